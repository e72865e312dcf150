"""Safety filters of `tritter synth filter`: the built-in rule filter and an optional classifier,
behind one interface (`Detector.flag(texts)` → a category or None per text).

The rule filter knows seven categories. Each is a short list of regular expressions
(case-insensitive) that pair an *intent* (make, build, synthesize, write, steal, ...) with a
harmful *object*, or match data that must never be published; mentioning a topic alone (how to
detect ransomware, the history of sarin, a child process) does not match. It is a high-precision
backstop for obviously unsafe completions, not a moderation system:

* `violent_crime` — making bombs, explosives or untraceable guns; killing or hurting people.
* `malware` — writing or deploying ransomware, keyloggers, botnets, worms, trojans; stealing
  credentials; bypassing antivirus or EDR; DDoS tooling.
* `sexual_minors` — a sexual term within a few words of a term for a minor.
* `self_harm` — wanting or asking how to kill or hurt oneself; suicide methods.
* `hate_harassment` — dehumanising or exterminationist statements about a group; telling
  someone to kill themselves.
* `privacy_pii` — US social security numbers, payment card numbers (Luhn-valid), private key
  blocks, AWS access key ids.
* `dangerous_chemicals_bio` — making, synthesizing or weaponising chemical or biological agents
  (sarin, VX, ricin, anthrax, ...) or hard drugs (methamphetamine, fentanyl).

The classifier (`--classifier DIR`) is any Hugging Face model directory:

* a sequence-classification model (`*ForSequenceClassification`): the probability mass of its
  labels that are not safe-like (`safe`, `benign`, `ok`, `neutral`, `negative`, `label_0`, ...)
  is the unsafe probability; at or above the threshold the text is flagged under its top unsafe
  label;
* a Llama-Guard-style causal LM: the conversation goes through its own chat template (a guard
  model is instruction-tuned by design), and an answer starting with `unsafe` flags the text
  under the category code on its next line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

from tritter import storage
from tritter.errors import TritterError

_MINOR = r"(?:child|children|minor|minors|underage|under-age|kid|kids|preteen|pre-teen|toddler|" \
    r"(?:[1-9]|1[0-7])[- ]year[- ]old|little (?:girl|boy))"  # fmt: skip
_SEXUAL = r"(?:sex|sexual|sexually|nude|naked|erotic|porn\w*|explicit)"

RULES: dict[str, tuple[str, ...]] = {
    "violent_crime": (
        r"\b(?:make|build|assemble|construct|create)\s+(?:an?\s+|my\s+own\s+)?(?:\w+\s+)?"
        r"(?:pipe\s+bomb|bomb|ied|explosive device|molotov cocktail)s?\b",
        r"\b(?:untraceable|ghost)\s+(?:gun|firearm|rifle|pistol)s?\b",
        r"\bhow\s+(?:to|do\s+i|can\s+i)\s+(?:kill|murder|poison|strangle|stab)\s+"
        r"(?:someone|a\s+person|people|my\s+\w+|him|her|them)\b",
        r"\b(?:best|easiest)\s+way\s+to\s+(?:kill|murder|hurt)\s+(?:someone|a\s+person|people)\b",
    ),
    "malware": (
        r"\b(?:write|create|build|code|develop|deploy|spread|make)\s+(?:me\s+)?(?:an?\s+|some\s+)?"
        r"(?:\w+\s+){0,2}?(?:ransomware|keylogger|botnet|computer\s+virus|worm|trojan|malware|"
        r"rootkit)\b",
        r"\bsteal(?:ing|s)?\s+(?:\w+\s+)?(?:passwords?|credentials|session\s+cookies|"
        r"credit\s+card\s+numbers|login\s+tokens)\b",
        r"\b(?:bypass|evade|disable)\s+(?:the\s+)?(?:antivirus|anti-virus|edr|windows\s+defender)"
        r"\s+(?:detection\s+)?(?:so|to|and|without)\b",
        r"\b(?:launch|run|script\s+for|tool\s+for)\s+(?:a\s+)?ddos\b",
    ),
    "sexual_minors": (
        rf"\b{_SEXUAL}\b(?:\W+\w+){{0,4}}?\W+{_MINOR}\b",
        rf"\b{_MINOR}\b(?:\W+\w+){{0,4}}?\W+{_SEXUAL}\b",
    ),
    "self_harm": (
        r"\b(?:want|going|plan(?:ning)?|how)\s+to\s+(?:kill|hurt|harm|cut)\s+myself\b",
        r"\b(?:ways?|methods?|how)\s+to\s+(?:commit\s+suicide|end\s+my\s+(?:own\s+)?life)\b",
        r"\bsuicide\s+(?:method|methods|note\s+for\s+me)\b",
        r"\bhow\s+many\s+\w+\s+(?:pills|tablets)\s+(?:to|would)\s+(?:overdose|die|kill)\b",
    ),
    "hate_harassment": (
        r"\b(?:all|those|these)\s+(?:\w+\s+)?(?:people|immigrants|jews|muslims|christians|"
        r"blacks|whites|asians|women|men|gays|arabs|mexicans)\s+(?:are|should\s+be)\s+"
        r"(?:vermin|animals|subhuman|parasites|exterminated|killed|gassed|eradicated)\b",
        r"\b(?:go\s+)?kill\s+yourself\b",
        r"\byou\s+(?:worthless|pathetic|disgusting)\s+(?:piece\s+of|waste\s+of)\b",
    ),
    "privacy_pii": (
        r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",  # US social security number
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    ),
    "dangerous_chemicals_bio": (
        r"\b(?:make|making|synthesi[sz]e|synthesi[sz]ing|produce|producing|weaponi[sz]e|"
        r"culture|cultivate|extract|cook|cooking)\s+(?:\w+\s+){0,3}?(?:sarin|tabun|soman|vx|"
        r"novichok|ricin|anthrax|mustard\s+gas|nerve\s+agents?|botulinum\s+toxin|"
        r"chlorine\s+gas|methamphetamine|meth|fentanyl)\b",
    ),
}
# Payment card numbers: 13-19 digits, optionally grouped by spaces or dashes, Luhn-valid.
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_COMPILED = {
    category: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    for category, patterns in RULES.items()
}
CATEGORIES = tuple(RULES)


def rules_sha256() -> str:
    """What the rule filter's decisions depend on (part of the filter's fingerprint)."""
    blob = json.dumps({"rules": RULES, "card": _CARD.pattern}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class Detector(Protocol):
    name: str

    def flag(self, texts: Sequence[str]) -> list[str | None]: ...


class RuleFilter:
    name = "rules"

    def category(self, text: str) -> str | None:
        for category, patterns in _COMPILED.items():
            if any(p.search(text) for p in patterns):
                return category
        for match in _CARD.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits):
                return "privacy_pii"
        return None

    def flag(self, texts: Sequence[str]) -> list[str | None]:
        return [self.category(text) for text in texts]


SAFE_LABELS = {"safe", "benign", "ok", "neutral", "negative", "label_0", "0", "not_unsafe",
               "non-toxic", "non_toxic", "clean", "harmless"}  # fmt: skip


class Classifier:
    """A Hugging Face safety classifier (sequence classification or guard causal LM)."""

    name = "classifier"

    def __init__(self, uri: str, threshold: float, batch_size: int, device: str) -> None:
        import torch
        from transformers import AutoConfig, AutoTokenizer

        from tritter.evaluate.loading import pick_device

        self.torch = torch
        self.threshold = threshold
        self.batch_size = batch_size
        self.device = pick_device(device)
        with storage.local_folder(uri) as path:
            try:
                config = AutoConfig.from_pretrained(str(path))
                self.tokenizer = AutoTokenizer.from_pretrained(str(path))
                architectures = config.architectures or []
                self.guard = not any(a.endswith("ForSequenceClassification") for a in architectures)
                if self.guard:
                    from transformers import AutoModelForCausalLM as Auto
                else:
                    from transformers import AutoModelForSequenceClassification as Auto
                self.model = Auto.from_pretrained(str(path)).to(self.device).eval()
            except (OSError, ValueError, KeyError) as err:
                detail = " ".join(str(err).split())[:300]
                raise TritterError(f"{uri}: not a loadable safety classifier ({detail})") from err
        labels = getattr(self.model.config, "id2label", None) or {}
        self.labels = [str(labels.get(i, labels.get(str(i), i))) for i in range(len(labels))]
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token

    def flag(self, texts: Sequence[str]) -> list[str | None]:
        return self._guard(texts) if self.guard else self._classify(texts)

    def _classify(self, texts: Sequence[str]) -> list[str | None]:
        torch = self.torch
        unsafe = [label.lower() not in SAFE_LABELS for label in self.labels]
        if not any(unsafe):
            return [None] * len(texts)
        mask = torch.tensor(unsafe)
        out: list[str | None] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                     max_length=512)  # fmt: skip
            encoded = {k: v.to(self.device) for k, v in encoded.items()}
            with torch.inference_mode():
                probs = torch.softmax(self.model(**encoded).logits.float(), dim=-1).cpu()
            scores = probs[:, mask].sum(dim=-1)
            top = torch.where(mask, probs, torch.full_like(probs, -1.0)).argmax(dim=-1)
            for score, label in zip(scores.tolist(), top.tolist(), strict=True):
                out.append(self.labels[label].lower() if score >= self.threshold else None)
        return out

    def _guard(self, texts: Sequence[str]) -> list[str | None]:
        torch = self.torch
        out: list[str | None] = []
        for text in texts:
            chat = [{"role": "user", "content": text}]
            ids = self.tokenizer.apply_chat_template(chat, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                generated = self.model.generate(
                    ids, max_new_tokens=12, do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )  # fmt: skip
            answer = self.tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True)
            lines = answer.strip().lower().splitlines()
            if lines and lines[0].strip().startswith("unsafe"):
                out.append(lines[1].strip() if len(lines) > 1 and lines[1].strip() else "unsafe")
            else:
                out.append(None)
        return out


def classifier_info(uri: str) -> dict[str, Any]:
    from tritter.train.store import identity

    return identity(uri)
