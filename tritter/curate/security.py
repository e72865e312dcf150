"""Security flaws that make a document a *negative* example rather than a rejected one.

Code/SQL/shell injection and unsafe deserialization stay in the corpus, labelled
`quality_label="negative"` with an `explanation` of the flaw and its fix, so the model learns to
recognize and explain them. (Hardcoded secrets are different: see `secrets.py`.)

Each rule names the flaw, a literal trigger that must be present before its regex runs (most
documents trigger none, which keeps this cheap), the languages it applies to, and the sentence
that explains the problem and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PYTHON = frozenset({"python"})
JS = frozenset({"javascript", "typescript"})
ANY_CODE = frozenset(
    {
        "python",
        "javascript",
        "typescript",
        "ruby",
        "php",
        "java",
        "go",
        "csharp",
        "kotlin",
        "scala",
        "rust",
        "c",
        "cpp",
        "shell",
    }
)


@dataclass(frozen=True)
class Flaw:
    """One rule. `pattern` is matched against the lower-cased text at every occurrence of a
    trigger (which is where a match starts): `str.find` locates the candidate spots at ~1 GB/s,
    so the full pattern, which may open with a lookbehind or an alternation (~30 MB/s when
    scanning), only runs at those few spots."""

    name: str
    triggers: tuple[str, ...]
    languages: frozenset[str]
    pattern: re.Pattern[str]
    explanation: str


# A call argument that is not a plain string literal (eval("1+1") is odd but harmless).
_NON_LITERAL_ARG = r"\s*\(\s*(?![\"')]|[rbu]?[\"'][^\"'{}]*[\"']\s*[,)])"
# String building: f-strings, %-formatting, .format(), `+` concatenation.
_INTERPOLATED = r"(?:\bf[\"']|[\"']\s*%\s*[\w(]|[\"']\s*\.format\(|[\"']\s*\+\s*\w|\w\s*\+\s*[\"'])"
_CALL_ARGS = r"(?:[^()]|\([^()]*\))*?"
_SQL_VERB = r"(?:select|insert\s+into|update|delete\s+from)\b"

FLAWS: tuple[Flaw, ...] = (
    Flaw(
        "eval_exec",
        ("eval", "exec"),
        PYTHON,
        re.compile(r"(?<![\w.])(?:eval|exec)" + _NON_LITERAL_ARG),
        "eval()/exec() run whatever code the string holds, so input that reaches them allows "
        "arbitrary code execution. Fix: parse data with ast.literal_eval(), json.loads() or an "
        "explicit parser, and dispatch to known functions instead of building code.",
    ),
    Flaw(
        "eval_exec",
        ("eval", "new function"),
        JS,
        re.compile(r"(?<![\w.])eval" + _NON_LITERAL_ARG + r"|new\s+function\s*\("),
        "eval()/new Function() execute strings as code, so input that reaches them allows "
        "arbitrary code execution. Fix: use JSON.parse() for data and call known functions "
        "instead of generating code.",
    ),
    Flaw(
        "unsafe_deserialization",
        ("pickle.", "dill.", "marshal.", "shelve."),
        PYTHON,
        re.compile(r"(?:pickle|dill|marshal)\.(?:load|loads|unpickler)\s*\(|shelve\.open\s*\("),
        "pickle/marshal/dill deserialization can execute arbitrary code embedded in the data, so "
        "loading untrusted bytes is remote code execution. Fix: exchange data as JSON (or "
        "another data-only format) and only unpickle files you produced and authenticated.",
    ),
    Flaw(
        "unsafe_yaml_load",
        ("yaml.",),
        PYTHON,
        re.compile(
            r"yaml\.(?:unsafe_load|full_load)\s*\("
            r"|yaml\.load(?:_all)?\s*\((?!" + _CALL_ARGS + r"(?:safe|base)loader)"
        ),
        "yaml.load() without a safe loader constructs arbitrary Python objects from tags in the "
        "document, which allows code execution. Fix: use yaml.safe_load() (or "
        "Loader=yaml.SafeLoader).",
    ),
    Flaw(
        "shell_injection",
        ("subprocess.", "os.system", "os.popen"),
        PYTHON,
        re.compile(
            r"subprocess\.\w+\s*\(" + _CALL_ARGS + _INTERPOLATED + _CALL_ARGS + r"shell\s*=\s*true"
            r"|os\.(?:system|popen)\s*\(\s*" + _CALL_ARGS + _INTERPOLATED
        ),
        "A shell command built by string interpolation runs with a shell (shell=True / "
        "os.system), so metacharacters in the interpolated value inject commands. Fix: pass an "
        "argument list to subprocess.run() without shell=True (use shlex.quote() if a shell is "
        "unavoidable).",
    ),
    Flaw(
        "shell_injection",
        ("exec(", "execsync("),
        JS,
        re.compile(r"(?<![\w])exec(?:sync)?\(\s*(?:`[^`]*\$\{|[\"'][^\"']*[\"']\s*\+)"),
        "child_process.exec() runs its command through a shell, so a command built from "
        "variables injects shell commands. Fix: use execFile()/spawn() with an argument array.",
    ),
    Flaw(
        "sql_injection",
        ("select", "insert", "update", "delete"),
        ANY_CODE,
        # The verb opens a string literal that is then filled by formatting.
        re.compile(
            r"(?<=f\")" + _SQL_VERB + r"[^\"\n]*\{"
            r"|(?<=f')" + _SQL_VERB + r"[^'\n]*\{"
            r"|(?<=`)" + _SQL_VERB + r"[^`]*\$\{"
            r"|(?<=\")" + _SQL_VERB + r"[^\"\n]*\"\s*(?:%\s*[\w(]|\.format\(|\+\s*\w)"
            r"|(?<=')" + _SQL_VERB + r"[^'\n]*'\s*(?:%\s*[\w(]|\.format\(|\+\s*\w)"
        ),
        "The SQL statement is assembled by string formatting, so quotes in the interpolated "
        "value change the query (SQL injection). Fix: use parameterized queries, e.g. "
        'cursor.execute("... WHERE id = %s", (value,)) or the driver\'s placeholders.',
    ),
    Flaw(
        "tls_verification_disabled",
        ("verify", "_create_unverified_context", "check_hostname"),
        PYTHON,
        re.compile(
            r"verify\s*=\s*false\b|verify_mode\s*=\s*ssl\.cert_none\b"
            r"|_create_unverified_context\s*\(|check_hostname\s*=\s*false\b"
        ),
        "TLS certificate verification is disabled, so any man-in-the-middle can read and alter "
        "the traffic. Fix: keep verification on and point verify=/cafile= at the right CA bundle.",
    ),
    Flaw(
        "insecure_tempfile",
        ("mktemp(",),
        PYTHON,
        re.compile(r"(?<=tempfile\.)mktemp\("),
        "tempfile.mktemp() returns a name that another process can create first (a race that "
        "enables symlink attacks). Fix: use tempfile.mkstemp() or NamedTemporaryFile().",
    ),
)

FLAW_NAMES = tuple(dict.fromkeys(flaw.name for flaw in FLAWS))


def find_flaws(text: str, language: str, lowered: str | None = None) -> list[Flaw]:
    """The flaws present in `text` (at most one entry per flaw name), in rule order."""
    lowered = text.lower() if lowered is None else lowered
    found: dict[str, Flaw] = {}
    for flaw in FLAWS:
        if flaw.name in found or language not in flaw.languages:
            continue
        if _anchored_hit(flaw, lowered):
            found[flaw.name] = flaw
    return list(found.values())


def _anchored_hit(flaw: Flaw, lowered: str) -> bool:
    match_at = flaw.pattern.match
    for trigger in flaw.triggers:
        position = lowered.find(trigger)
        while position >= 0:
            if match_at(lowered, position):
                return True
            position = lowered.find(trigger, position + 1)
    return False


def explain(flaws: list[Flaw]) -> str:
    """A heading line, then one `- issue. Fix: …` line per flaw."""
    lines = ["This code has security issues:"]
    lines += [f"- {flaw.explanation}" for flaw in flaws]
    return "\n".join(lines)
