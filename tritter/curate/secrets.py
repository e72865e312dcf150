"""Hardcoded credentials: a document holding one, in its text or in any metadata field, is
rejected, and its value never reaches an output.

**The rule set is data**: `secret_rules.yaml` beside this module lists every credential format
(AWS, GitHub, GitLab, Slack, Stripe, Google, SendGrid, npm, Azure, Twilio, private keys, JWTs,
credentialed URLs and connection strings, authorization headers, …), each with its keywords,
its regex and the check its value must pass. The formats come from the maintained open-source
rule sets (gitleaks, MIT; detect-secrets, Apache-2.0), credited with their licences in the file's
header; the regexes were written for Tritter.

**Secret-named assignments**: a literal assigned to, passed as, or defaulted for a secret name
(`password`, `passwd`, `pwd`, `db_pass`, `secret`, `client_secret`, `*_token`, `api_key`,
`access_key`, `private_key`, `credentials`, `auth`…) in any language or config format — `name =
"…"`, `name: …`, `"name": "…"`, `name=…` in .env/INI/connection strings, `os.environ.get("NAME",
"…")`, `process.env.NAME || "…"`, `<name>…</name>`, a comment — is a secret when the value is not a
placeholder (`changeme`, `xxx`, `<password>`, `${VAR}`, `your_password_here`, `example`,
`dummy`, `test123` — placeholder words with at most trivial digits), not a template or a
reference (`os.environ[...]`, `settings.KEY`, a path, a URL), and either mixes letters with
digits or symbols (`Turkey1985x`, `MyCompanyDb2024`, `hunter2Xq!7`) or has token-like entropy
(≥ 3.5 bits/char over ≥ 16 characters). The secret word must end the name or be followed only
by trailers (`DB_PASSWORD_PROD`): `password_hash`, `token_url`, `publicKeyToken` name something
else. In code, an unquoted identifier, call or subscript is code, not a literal (except in a
comment or inside a connection string); a type name (`V1SecretVolumeSource`) is not a password;
published documentation examples (AWS's `AKIAIOSFODNN7EXAMPLE`, RFC 6749's tokens) are listed.

**Why rules as data and not the detect-secrets package**: detect-secrets 1.5.0 (default
plugins, evaluated for this) scanned the 1,790 standard-library `.py` files at 6 files/s (this
scanner: ~3,000 files/s) and flagged 2.8 % of them (hex/base64 high-entropy strings in test
vectors, keyword matches on test passwords; this scanner: 0.06 %), against < 0.5 % allowed; it
would also be a new dependency of the data image. Its and gitleaks' formats are the facts this
rule set is written from.

**The value is never returned, logged or stored**: `find_secret` returns a detector name;
`scan` returns findings as (detector, span) so that `redact` can replace each value by
`<SECRET:detector>` in a field that must be written (a reject record's path).

**Cost**: the rules' keywords are found in 13 passes over the text, one per distinct first
character, each a C-level scan for that character: keywords are written to start at a rare one
(`se|cret` is found as `cret`, then `se` is checked before it), capitalised formats (`AKIA`,
`AIza`) are found in the text as written, the rest in the lower-cased text the other rules share,
and a frequent keyword carries a lookahead (`key` only where an operator follows). A rule's regex
runs only at its keywords' spots, anchored there. On the standard library this is ~1.4x the
throughput of the previous, 19-pass scanner with its 13 detectors.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import string
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

RULES_FILE = "secret_rules.yaml"

# Languages whose unquoted `name = value` is a variable reference, not a literal. Shell,
# Markdown/reST, config formats and unknown text (metadata fields) treat a bare value as a literal.
CODE_LANGUAGES = frozenset(
    {"python", "javascript", "typescript", "go", "java", "kotlin", "scala", "csharp", "swift",
     "ruby", "php", "lua", "rust", "c", "cpp", "haskell", "julia", "zig"}
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One credential: the detector's name and where its value lies in the scanned text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Rule:
    """One entry of `secret_rules.yaml`, compiled."""

    id: str
    keywords: tuple[str, ...]
    locate_after: str | None
    pattern: re.Pattern[str]
    check: Callable[[Rule, re.Match[str], _Scan], tuple[int, int] | None]
    before: int = 0
    min_entropy: float = 3.0
    min_length: int = 8
    names: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """The word lists of `secret_rules.yaml` (`vocabulary:`)."""

    placeholder: frozenset[str]
    leet_placeholder: frozenset[str]
    technical: frozenset[str]
    key_qualifiers: frozenset[str]
    name_trailers: frozenset[str]
    token_context: frozenset[str]
    examples: frozenset[str]


@dataclass(frozen=True)
class Locator:
    """One pass over the text (`lowered` or as written) for the keywords that start with one
    character: CPython's regex engine scans for a literal first character in C, while an
    alternation without one is tried position by position. `table` maps each keyword it can
    match to the (rule index, keyword prefix) pairs to try there: its rules and those of every
    shorter keyword it starts with."""

    pattern: re.Pattern[str]
    lowered: bool
    table: dict[str, tuple[tuple[int, str], ...]]


@dataclass(frozen=True)
class RuleSet:
    """The rules in priority order, the locators that find their keywords, the word lists."""

    rules: tuple[Rule, ...]
    locators: tuple[Locator, ...]
    vocabulary: Vocabulary


# -- value tests --------------------------------------------------------------------------------

_TEMPLATED = re.compile(
    r"\$\{|\$\(|\{\{|\}\}|\{[\w.:!\[\]'\"-]*\}|%\(\w+\)|%[-+ #0]*\d*(?:\.\d+)?[sdrifxXc]\b"
    r"|<[^<>]*>|#\{|^@\w+@$|^%\w+%$|^\$[A-Za-z_]\w*$|\s|\w\(|\w\[|^\[.*\]$|^\|.*\|$"
)
_REFERENCE = re.compile(
    r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$"  # settings.SECRET_KEY, os.environ, this.token
    r"|^(?:https?|file|s3|gs|env|vault|arn|ssm|kms|keyvault|secretsmanager|projects|op)[:/]"
    r"|^(?:\.{0,2}/|~/|[A-Za-z]:\\)"  # paths
    r"|^--?[A-Za-z]|==|!=|&&|\|\|"  # command-line flags, expressions
    r"|\.(?:pem|key|crt|cer|der|p12|pfx|jks|json|ya?ml|txt|env|ini|cfg|conf|toml|xml|gpg|asc|pub"
    r"|sh|py|js|ts|properties|secret|secrets|enc)$"
    r"|^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$"  # an e-mail address
    r"|^(?:[\w-]+\.)+[A-Za-z]{2,6}(?::\d+)?$",  # a host name
    re.IGNORECASE,
)
# Marks a human-written stand-in (`your_password_here`, `xxxx`, `TODO`, `...`).
_MARKERS = re.compile(
    r"example|sample|placeholder|dummy|fake|changeme|change_?me|redacted|replace|insert|your"
    r"|xxxx|\*\*\*|\.\.\.|…|todo|fixme|lorem|ipsum|foobar|(.)\1{5,}",
    re.IGNORECASE,
)
# The same in a machine-made token, where only long words count (a random 40-character key holds
# a given 4-letter word with a chance near 1e-4, a 7-letter one near 1e-9).
_TOKEN_MARKERS = re.compile(
    r"example|sample|placeholder|dummy|redacted|changeme|lorem|ipsum|(.)\1{5,}", re.IGNORECASE
)
_LEET = str.maketrans("013457@$", "oieastas")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*|\d+")
# A type or class name (V1SecretVolumeSource, PKCS7PrivateKeyTypes): two or more capitalised
# words with digits inside, not at the end (MyCompanyDb2024 is a password).
_CLASS_NAME = re.compile(
    r"(?=(?:.*?[A-Z][a-z]{2}){2})(?=.*\d.*[A-Za-z_]$)(?:[A-Z][a-z]{2,}|[A-Z]{1,5}|\d{1,3}|_)+"
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ALPHA_WORDS = re.compile(r"[A-Za-z]+|\d+")
_RUNS = tuple(
    seq[i : i + 8]
    for seq in ("abcdefghijklmnopqrstuvwxyz", "0123456789", "9876543210", "qwertyuiop")
    for i in range(len(seq) - 7)
)


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _trivial_digits(digits: str) -> bool:
    """`1`, `123`, `0000`, `321`: digits a placeholder or a test fixture adds."""
    return len(set(digits)) == 1 or digits in "01234567890" or digits in "9876543210"


def is_placeholder(value: str) -> bool:
    """A value that stands for a secret without being one: `changeme`, `xxxx`, `<password>`,
    `your_api_key_here`, `EXAMPLEKEY`, `abcdefgh12345678`, `test123`, `P@ssw0rd`. Words with
    non-trivial digits (`Turkey1985x`, `MyCompanyDb2024`) are not placeholders."""
    lowered = value.lower()
    if len(set(lowered)) <= 3 or _MARKERS.search(value):
        return True
    if any(run in lowered for run in _RUNS):
        return True
    vocabulary = rule_set().vocabulary
    words = _ALPHA_WORDS.findall(lowered)
    if all(
        _trivial_digits(w) if w.isdigit() else _made_of(w, vocabulary.placeholder) for w in words
    ):
        return True
    letters = "".join(c for c in lowered.translate(_LEET) if c.isalpha())
    return letters in vocabulary.leet_placeholder


def _made_of(word: str, vocabulary: frozenset[str]) -> bool:
    """Whether `word` is a concatenation of vocabulary words of 2+ letters (`newtoken`,
    `mysecretkey`, `changeme`)."""
    if word in vocabulary:
        return True
    if len(word) > 40:
        return False
    reachable = [True] + [False] * len(word)
    for end in range(2, len(word) + 1):
        reachable[end] = any(
            reachable[start] and word[start:end] in vocabulary for start in range(end - 1)
        )
    return reachable[-1]


def _technical(value: str) -> bool:
    """`sha256`, `utf-8`, `x86_64`, `aes-256-gcm`, `v1.2.3`: identifiers, not passwords."""
    technical = rule_set().vocabulary.technical
    return all(w.isdigit() or w in technical for w in _ALPHA_WORDS.findall(value.lower()))


def _token_like(value: str, min_entropy: float) -> bool:
    """A token of a known format: not a documentation stand-in (`AKIAIOSFODNN7EXAMPLE`,
    `ghp_xxxxxxxx…`, `…abcdefgh…`), random enough."""
    if _TOKEN_MARKERS.search(value) or _entropy(value) < min_entropy:
        return False
    lowered = value.lower()
    return not any(run in lowered for run in _RUNS)


def password_like(value: str, *, min_length: int = 8) -> bool:
    """A literal that is a real, human- or machine-made secret."""
    if not min_length <= len(value) <= 200:
        return False
    if _TEMPLATED.search(value) or _REFERENCE.search(value) or is_placeholder(value):
        return False
    if value in rule_set().vocabulary.examples or _CLASS_NAME.fullmatch(value):
        return False
    has_alpha = has_digit = has_symbol = False
    for char in value:
        if char.isalpha():
            has_alpha = True
        elif char.isdigit():
            has_digit = True
        elif char not in "-_./:#":
            has_symbol = True
    if not has_alpha or not (has_digit or has_symbol):
        return False  # words and identifiers (`Authorization`, `application/json`), numbers
    if len(value) >= 16 and _entropy(value) >= 3.5:
        return True  # machine-made
    return not _technical(value)


# -- secret names -------------------------------------------------------------------------------

_PASSWORD_WORDS = ("password", "passwd", "passw", "passphrase", "pwd", "passwort", "passcode")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(name)]


def secret_name(name: str, family: str) -> bool:
    """Whether an identifier names a secret: `family` "password" (password, passwd, pwd,
    db_pass, PGPASSWORD, userPassword…) or "secret" (client_secret, AWS_SECRET_ACCESS_KEY,
    auth_token, apiKey, private_key, credentials, auth…). The secret word must end the name,
    or be followed only by name trailers (DB_PASSWORD_PROD, api_key_v2): password_hash,
    token_url, SECRET_NAME, publicKeyToken and token_to_image name something else."""
    vocabulary = rule_set().vocabulary
    words = _words(name)
    if "public" in words:
        return False
    found = [i for i in range(len(words)) if _secret_word(words, i, family, vocabulary)]
    if not found:
        return False
    last = found[-1]
    return all(w.isdigit() or w in vocabulary.name_trailers for w in words[last + 1 :])


def _secret_word(words: list[str], i: int, family: str, vocabulary: Vocabulary) -> bool:
    word = words[i]
    if family == "password":
        return word == "pass" or word.endswith(_PASSWORD_WORDS)
    if word.endswith("secret") or word in ("credential", "credentials", "creds"):
        return True
    if word in ("auth", "authorization", "authkey", "authtoken"):
        return True
    if word.endswith("token"):
        return not (word == "token" and i > 0 and words[i - 1] in vocabulary.token_context)
    if word in ("key", "keys"):
        return i > 0 and words[i - 1] in vocabulary.key_qualifiers
    return word.endswith("key") and word[:-3] in vocabulary.key_qualifiers  # APIKEY, accesskey


# -- the scanner -----------------------------------------------------------------------------------


class _Scan:
    """One text being scanned, with its lower-cased copy (the same length, so that a keyword's
    offset there is its offset in the text)."""

    def __init__(self, text: str, lowered: str | None, code: bool) -> None:
        self.text = text
        if lowered is None or len(lowered) != len(text):
            lowered = text.lower()
            if len(lowered) != len(text):  # str.lower() can change the length (İ → i̇)
                lowered = text.translate(_ASCII_LOWER)
        self.lowered = lowered
        self.code = code

    def in_comment(self, position: int) -> bool:
        line_start = self.text.rfind("\n", 0, position) + 1
        return self.text[line_start:position].lstrip().startswith(_COMMENT_MARKERS)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_COMMENT_MARKERS = ("#", "//", "/*", "*", "--", ";", "<!--", "%", "rem ", "REM ")
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-$@")


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    return match.span("value") if "value" in match.re.groupindex else match.span()


def _check_none(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    return _value_span(match)


def _check_token(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    start, end = _value_span(match)
    return (start, end) if _token_like(scan.text[start:end], rule.min_entropy) else None


def _check_password(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    start, end = _value_span(match)
    value = scan.text[start:end]
    if password_like(value, min_length=rule.min_length):
        return start, end
    return None


def _check_url_password(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    """A URL's password, percent-decoded (`a%20secret` is "a secret", prose)."""
    start, end = _value_span(match)
    value = urllib.parse.unquote(scan.text[start:end])
    return (start, end) if password_like(value, min_length=rule.min_length) else None


def _check_basic_auth(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    """`Basic <base64 of user:password>` with a real password."""
    start, end = _value_span(match)
    try:
        decoded = base64.b64decode(scan.text[start:end], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    _user, colon, password = decoded.partition(":")
    if colon and password_like(password, min_length=6):
        return start, end
    return None


def _check_assignment(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    """`name <op> value` where name is a secret name and value a real secret literal."""
    text = scan.text
    name_start = match.start()
    lowest = max(0, name_start - 64)
    while name_start > lowest and text[name_start - 1] in _NAME_CHARS:
        name_start -= 1
    name = text[name_start : match.end("tail")].strip(".-$@")
    if not secret_name(name, rule.names):
        return None
    op = match.group("op").strip()
    quoted = match.group("qv") is not None
    span = match.span("qv") if quoted else match.span("uv")
    value = text[span[0] : span[1]]
    if match.group("paren") and op not in ("||", "??", "or"):
        return None  # `f(password) == x`, `len(token) > 8`
    if op == "," and not (quoted and match.group("close").startswith(("'", '"', "`"))):
        return None  # `f(password, "x")`: a variable, then another argument
    if op == ">" and (quoted or match.group("close") or not text.startswith("</", span[1])):
        return None  # only <password>value</password>
    if name.lower() == "pass" and op not in ("=", ":="):
        return None  # "First pass: …"
    comment = scan.in_comment(name_start)
    if op in ("is", "was") and scan.code and not comment:
        return None  # `token is None`
    if _previous_word(text, name_start) in rule_set().vocabulary.token_context:
        return None  # "next page token: …"
    if quoted and "f" in (match.group("prefix") or "").lower() and "{" in value:
        return None
    if not quoted:
        if text.startswith(("(", "["), span[1]):
            return None  # a call or a subscript: `token = make_token(…)`
        before = text[name_start - 1] if name_start > 0 else "\n"
        # Password=…; in a connection string, ?token=… in a URL, "pwd=… opening a string
        in_string = before in ";?&" or (before in "\"'" and not match.group("close"))
        if scan.code and not comment and not in_string and _IDENTIFIER.fullmatch(value):
            return None  # in code, a bare name is a variable (or a type, a constant)
    return span if password_like(value, min_length=rule.min_length) else None


def _previous_word(text: str, position: int) -> str:
    """The word before `position`, separated from it by spaces only (lower case)."""
    end = position
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    if end == position:
        return ""
    start = end
    while start > 0 and text[start - 1].isalpha() and end - start < 20:
        start -= 1
    return text[start:end].lower()


def _check_define(rule: Rule, match: re.Match[str], scan: _Scan) -> tuple[int, int] | None:
    """`#define NAME "value"` with a secret name and a real secret value."""
    name = match.group("name")
    if not (secret_name(name, "password") or secret_name(name, "secret")):
        return None
    start, end = match.span("value")
    return (start, end) if password_like(scan.text[start:end], min_length=rule.min_length) else None


_CHECKS: dict[str, Callable[[Rule, re.Match[str], _Scan], tuple[int, int] | None]] = {
    "none": _check_none,
    "token": _check_token,
    "password": _check_password,
    "url_password": _check_url_password,
    "basic_auth": _check_basic_auth,
    "assignment": _check_assignment,
    "define": _check_define,
}


@functools.cache
def rule_set() -> RuleSet:
    """The compiled rule set (`secret_rules.yaml`)."""
    text = resources.files(__package__).joinpath(RULES_FILE).read_text("utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    rules = []
    for entry in data["rules"]:
        flags = re.IGNORECASE if entry.get("ignore_case", False) else 0
        rules.append(
            Rule(
                id=entry["id"],
                keywords=tuple(entry["keywords"]),
                locate_after=entry.get("locate_after"),
                pattern=re.compile(entry["regex"], flags),
                check=_CHECKS[entry.get("check", "token")],
                before=int(entry.get("before", 0)),
                min_entropy=float(entry.get("min_entropy", 3.0)),
                min_length=int(entry.get("min_length", 8)),
                names=entry.get("names", ""),
            )
        )
    # (located keyword, found in lower-cased text) → [(rule index, prefix)], its lookaheads
    targets: dict[tuple[str, bool], list[tuple[int, str]]] = {}
    ahead: dict[tuple[str, bool], set[str | None]] = {}
    for index, rule in enumerate(rules):
        for keyword in rule.keywords:
            prefix, _, located = keyword.rpartition("|")
            lowered = not located[0].isupper()
            key = (located.lower() if lowered else located, lowered)
            targets.setdefault(key, []).append((index, prefix.lower() if lowered else prefix))
            ahead.setdefault(key, set()).add(rule.locate_after)
    groups: dict[tuple[str, bool], list[str]] = {}
    for located, lowered in targets:
        groups.setdefault((located[0], lowered), []).append(located)
    locators = []
    for (_, lowered), keywords in sorted(groups.items()):
        keywords.sort(key=len, reverse=True)  # the longest keyword at a spot is the one matched
        table = {}
        branches = []
        for keyword in keywords:
            shorter = [k for k in keywords if keyword.startswith(k)]
            table[keyword] = tuple(sorted({t for k in shorter for t in targets[k, lowered]}))
            after = ahead[keyword, lowered]
            lookahead = "" if None in after else "(?=" + "|".join(sorted(map(str, after))) + ")"
            branches.append(re.escape(keyword) + lookahead)
        locators.append(Locator(re.compile("|".join(branches)), lowered, table))
    words = {name: frozenset(value.split()) for name, value in data["vocabulary"].items()}
    return RuleSet(tuple(rules), tuple(locators), Vocabulary(**words))


def _findings(scan: _Scan) -> list[tuple[int, Finding]]:
    """(rule index, finding) of every credential, one per rule and keyword spot."""
    rules = rule_set()
    text = scan.text
    found = []
    for locator in rules.locators:
        haystack = scan.lowered if locator.lowered else text
        for spot in locator.pattern.finditer(haystack):
            position = spot.start()
            for index, prefix in locator.table[spot.group()]:
                if prefix:
                    position = spot.start() - len(prefix)
                    if position < 0 or not haystack.startswith(prefix, position):
                        continue
                else:
                    position = spot.start()
                rule = rules.rules[index]
                for start in range(max(0, position - rule.before), position + 1):
                    match = rule.pattern.match(text, start)
                    if match is None:
                        continue
                    span = rule.check(rule, match, scan)
                    if span is not None:
                        found.append((index, Finding(rule.id, *span)))
                        break
    return found


def scan(text: str, lowered: str | None = None, language: str | None = None) -> list[Finding]:
    """Every credential in `text`, by position. `lowered` is `text.lower()` when the caller has
    it; `language` is the document's (in code, a bare name is a variable, not a literal)."""
    found = _findings(_Scan(text, lowered, language in CODE_LANGUAGES))
    return sorted({finding for _, finding in found}, key=lambda f: (f.start, -f.end, f.kind))


def find_secret(text: str, lowered: str | None = None, language: str | None = None) -> str | None:
    """The name of the detector, first in rule order, that finds a credential in `text`."""
    found = _findings(_Scan(text, lowered, language in CODE_LANGUAGES))
    if not found:
        return None
    return min(found, key=lambda item: (item[0], item[1].start))[1].kind


def redact(text: str) -> str:
    """`text` with every credential value replaced by `<SECRET:detector>` (overlapping values,
    a token that is also a URL's password, become one, named by the first rule in order)."""
    if not text:
        return text
    found = _findings(_Scan(text, None, False))
    if not found:
        return text
    spans: list[list[int]] = []  # [start, end, rule index]
    for index, finding in sorted(found, key=lambda item: item[1].start):
        if spans and finding.start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], finding.end)
            spans[-1][2] = min(spans[-1][2], index)
        else:
            spans.append([finding.start, finding.end, index])
    parts, position = [], 0
    kinds = rule_set().rules
    for start, end, index in spans:
        parts += [text[position:start], f"<SECRET:{kinds[index].id}>"]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def text_fields(
    record: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, str]]:
    """(field name, string value) of every string in a record, nested fields as `a.b`/`a[0]`."""
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, Mapping) and depth < 4:
            yield from text_fields(value, f"{name}.", depth + 1)
        elif isinstance(value, list | tuple) and depth < 4:
            for i, item in enumerate(value[:1000]):
                if isinstance(item, str):
                    yield f"{name}[{i}]", item
                elif isinstance(item, Mapping):
                    yield from text_fields(item, f"{name}[{i}].", depth + 1)


def find_in_fields(fields: Iterator[tuple[str, str]] | Mapping[str, str]) -> tuple[str, str] | None:
    """(field name, detector name) of the first metadata field holding a credential, else None.
    Metadata (paths, repository names, URLs) is scanned as plain text, not code."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    for name, value in items:
        if value:
            kind = find_secret(value)
            if kind is not None:
                return name, kind
    return None
