"""What a file is, from its name alone: language, config, boilerplate or vendored copy.

Name-based decisions come first because they are free: a `.png` or a `package-lock.json` is
never read, only counted.
"""

from __future__ import annotations

import re

# Extension → language. `.h` is ambiguous between C and C++; C is the common reading.
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".rs": "rust",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".go": "go",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".java": "java",
    ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala",
    ".cs": "csharp",
    ".swift": "swift",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".sql": "sql",
    ".hs": "haskell",
    ".jl": "julia",
    ".zig": "zig",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "restructuredtext",
}  # fmt: skip

LANGUAGES: frozenset[str] = frozenset(EXTENSIONS.values())
DOC_LANGUAGES: frozenset[str] = frozenset({"markdown", "restructuredtext"})

# Names a document-set record may use for a language (The Stack, `--format jsonl` output,
# GitHub dumps).
ALIASES: dict[str, str] = {
    "py": "python", "python3": "python", "rs": "rust", "js": "javascript",
    "node": "javascript", "ts": "typescript", "golang": "go", "c++": "cpp", "cxx": "cpp",
    "c#": "csharp", "cs": "csharp", "md": "markdown", "rst": "restructuredtext",
    "restructured text": "restructuredtext", "bash": "shell", "sh": "shell",
}  # fmt: skip

# Configuration and lock files: structured data, not code worth training on.
CONFIG_EXTENSIONS = frozenset(
    {".json", ".jsonc", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".lock", ".xml",
     ".properties", ".plist", ".pbxproj", ".csproj", ".sln", ".editorconfig", ".env"}
)  # fmt: skip
CONFIG_NAMES = frozenset(
    {"go.mod", "go.sum", "pipfile", ".gitignore", ".gitattributes", ".gitmodules",
     ".dockerignore", ".npmignore", ".prettierrc", ".eslintrc", ".babelrc", "requirements.txt",
     "manifest.in", "setup.cfg", "tox.ini", "codeowners", ".env", ".npmrc", ".pypirc"}
)  # fmt: skip

# Repository boilerplate: legal text and history, not code or technical docs.
_BOILERPLATE_NAME = re.compile(
    r"^(licen[cs]e|copying|unlicense|notice|authors|contributors|changelog|changes|history|"
    r"news|code_of_conduct|security|patents|third[-_]party[-_]notices)([-_.].*)?$",
    re.IGNORECASE,
)

# Path components that mark third-party copies (relative to the input root).
VENDOR_DIRS = frozenset(
    {"vendor", "vendors", "vendored", "_vendor", "third_party", "third-party", "thirdparty",
     "3rdparty", "external", "node_modules", "bower_components", "site-packages",
     "dist-packages", ".venv", ".tox", "jspm_packages", "deps"}
)  # fmt: skip

# Folders that never hold documents: version control internals and bytecode caches.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache"})

_MINIFIED_NAME = re.compile(r"[.-]min\.(js|css|mjs)$|\.bundle\.js$", re.IGNORECASE)


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def language_of(path: str) -> str | None:
    """The language a path's extension declares, or None."""
    return EXTENSIONS.get(extension(path.rsplit("/", 1)[-1]))


def normalize_language(name: str | None) -> str | None:
    """A record's language field → one of LANGUAGES (or None when not recognized)."""
    if not name:
        return None
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    return key if key in LANGUAGES else None


def is_config(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name in CONFIG_NAMES or extension(name) in CONFIG_EXTENSIONS


def is_boilerplate_name(path: str) -> bool:
    return bool(_BOILERPLATE_NAME.match(path.rsplit("/", 1)[-1]))


def is_vendored(path: str) -> bool:
    """True when a folder on the relative path marks a third-party copy."""
    parts = path.split("/")[:-1]
    return any(part.lower() in VENDOR_DIRS for part in parts)


def is_minified_name(path: str) -> bool:
    return bool(_MINIFIED_NAME.search(path))


def default_subset(language: str) -> str:
    """The mixture component a language counts towards when packing (one of the subsets
    `tritter.data.mixture` weighs: python, rust, docs, or the language's own name)."""
    if language in DOC_LANGUAGES:
        return "docs"
    return language
