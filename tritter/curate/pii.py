"""Personal data in documents: email addresses, IP addresses, phone numbers and personal names
on author and copyright lines, found and replaced by stable placeholders (BigCode's, as in
StarCoder's PII pipeline): `<EMAIL>`, `<IP_ADDRESS>`, `<PHONE>`, `<NAME>` — the same value
always becomes the same placeholder, and nothing of the value is kept.

What counts, and what is kept (the word lists and the default allowlist are data,
`pii_rules.yaml` beside this module):

* **Email**: `local@domain.tld`, the domain's labels valid, the top-level domain a country code
  or a listed generic one, not a source-file extension (`icon@2x.png`, `module@file.py`), not
  mixed case (`q@k.mT` is a matrix product). Kept: automated and role mailboxes (`noreply@`,
  `git@` of SSH URLs, RFC 2142's `webmaster@`, `security@`, …), the reserved `example.*`,
  `.test`, `.invalid`, `localhost` and GitHub's `users.noreply.github.com`.
* **IPv4**: four dotted decimal octets, each 0–255 without a leading zero, standing alone (not
  part of a longer dotted number such as an OID or `1.2.3.4.5`, nor of a word: `v1.2.3.4`).
  Public addresses and the private-use ranges (10/8, 172.16/12, 192.168/16, 100.64/10) *are*
  personal data: they name a person's or an organisation's hosts. Kept: every other address
  Python's `ipaddress` does not call globally reachable — documentation (RFC 5737), loopback,
  unspecified, link-local, benchmarking, protocol assignments, reserved — and multicast;
  netmasks and wildcard masks (`255.255.255.0`, `0.0.0.255`); networks, not hosts
  (`a.b.0.0`, or host bits zero under a `/prefix`: `192.168.1.0/24`); dotted quads whose first
  three numbers are single digits (`1.2.3.4`, `7.1.4.34`, `8.2.4.44` — version and section
  numbers, and the placeholder address, far more often than a host); the allowlist's public
  DNS resolvers and Kubernetes defaults; and any dotted quad that follows a version word
  (`version`, `appVersion`, `__version__`, `ver`, `v`, `release`, `rev`, `build`, `tag`,
  `oid`, `sdk`, `firmware`) or a version operator (`>=`, `==`, `~=`) on its line.
* **IPv6**: a run of hex groups and colons `ipaddress` accepts (zone and embedded IPv4
  included), with a digit in it and, if all its groups are decimal, one of four digits (a
  slice `x[10::20]` or `1:2:3:4:5:6:7:8` is not an address). Kept: what is not global or
  unique-local (documentation 2001:db8::/32 and 3fff::/20, loopback, unspecified, link-local,
  site-local, multicast, reserved — `::/8`, `dead:beef::`, most hex words — protocol
  assignments), networks (`2001:db8:1::`, `…::/48`), and an IPv4-mapped address whose IPv4
  would be kept.
* **Phone**: conservative, so that numeric literals, timestamps and tables stay: an
  international number `+CC …` (8–15 digits, spaces, dots, dashes or parentheses between
  groups); a North American number with separators, `(415) 555-2671`, `415-555-2671`,
  `415.555.2671`, `+1 415 555 2671`, with a valid area code and exchange (2–9 first, no N11
  area code); any other national number (a leading trunk `0`, or NANP digits separated by
  spaces) only on a line that calls it a phone (`phone`, `tel`, `fax`, `mobile`, …). Kept: the
  NANP's fictional 555-0100 to 555-0199 (the documentation range of phone numbers).
* **Name**: a personal name — two to five capitalised words (any script), initials (`J.`),
  particles (`van`, `de`) and suffixes (`Jr.`) starting a value (`Valentina Greco on
  12/03/2022`), with no organisation word next to them (`Inc`, `LLC`, `Foundation`, `Authors`,
  `Contributors`, `Project`, `Team`, …) — where a line says who wrote the code: `Author: …`,
  `Authors:`, `__author__ = "…"`, `@author …`, `"author": "…"`, `author="…"`, `Maintainer:`,
  `__credits__`, `Written by …`, `Signed-off-by:`, `Co-authored-by:`; the items of a list
  such a marker opens (`maintainers:` then `- name: …`, `authors = [`, `# Credits:` then
  indented lines) or the paragraph under an author heading (`=head1 AUTHOR`, `## Authors`);
  the name of a `Name <email>` pair anywhere (git author lines, AUTHORS files, package
  metadata) unless the address is at a reserved example domain (a placeholder pair); every
  line of an `AUTHORS`/`CONTRIBUTORS`/`MAINTAINERS`/`CREDITS` file; and the holder of a
  copyright notice (`Copyright (c) 2021 …`, `(c) …`, `© …`, with a year or ©) **unless the
  holder is the licence holder**.

**Licence holder**: a copyright notice's holder is the licence holder when the document's
licence requires the notice to be kept with the code — every licence curation can keep (MIT,
BSD, Apache-2.0, ISC, PSF-2.0, MPL, …) except the public-domain dedications and the
attribution-free variants (`unlicense`, `cc0-1.0`, `0bsd`, `mit-0`, `wtfpl`) and an unknown
licence. There, removing the holder would break the very licence the document is kept under,
so the notice keeps its holder (its email address is still replaced: the notice's holder is
what the licence names). Author lines, contributor lists and `Name <email>` pairs elsewhere
always lose their names.

**Why written here, not Presidio or a model**: Presidio's recognisers need spaCy and a
downloaded language model (hundreds of MB, no network at runtime in the data image) and its
name recogniser is an NER model tuned on prose, not source code; its email/IP recognisers are
regexes much like these, without the code-specific exclusions (versions, OIDs, masks, slices,
decorators, matrix products). BigCode's PII regexes (the facts behind the placeholders and the
"safe IP" idea) are written for the `regex` module and kept private ranges out of redaction,
which the issue's `192.168.1.20` rules out. Both were used as references, evaluated against
the labelled sample (`tests/curate/samples/pii_labelled.yaml`); the code is Tritter's, with
precompiled regexes behind cheap prefilters: each candidate is found by a pattern that starts
with a literal (`@`; `.d.d.d` for IPv4; `:h:` for IPv6; `+`, `-ddd-dddd`, `.ddd.dddd`,
`) ddd-dddd` for phones), which CPython finds ~10x faster than a pattern starting with a
character class or a lookbehind, and names and national phone numbers only on lines found by
keyword (`author`, `copyright`, `(c)`, `maintain`, `written by`, `tel`, …). ~40 MB/s of
standard-library source per core.

`scan` returns findings (kind, span) — never logged; `redact` replaces them. A value is never
returned in a count, a log line or a reject detail: only kinds and numbers are.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

RULES_FILE = "pii_rules.yaml"

KINDS = ("email", "ip_address", "phone", "name")
PLACEHOLDERS = {"email": "<EMAIL>", "ip_address": "<IP_ADDRESS>", "phone": "<PHONE>",
                "name": "<NAME>"}  # fmt: skip
AUTHOR_FILES = frozenset({"authors", "contributors", "maintainers", "credits", "thanks"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The private-use ranges a person's or an organisation's hosts live in: redacted like public
# addresses. Every other address that is not globally reachable (documentation, loopback,
# benchmarking, IETF protocol assignments, reserved, ...) is kept.
_PRIVATE_USE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


@dataclass(frozen=True)
class Finding:
    """One value: its kind and where it lies in the scanned text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Allowlist:
    """Values that are not personal data (`pii_rules.yaml`'s `allowlist` plus the user's)."""

    mailboxes: frozenset[str]  # local parts, at any domain
    domains: frozenset[str]  # an address at one of them, or at a subdomain
    emails: frozenset[str]
    networks: tuple[IPNetwork, ...]
    literals: frozenset[str]  # lower-cased values of any kind

    def email(self, local: str, domain: str) -> bool:
        local, domain = local.lower(), domain.lower()
        if local in self.mailboxes or local.partition("+")[0] in self.mailboxes:
            return True
        if f"{local}@{domain}" in self.emails:
            return True
        labels = domain.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))

    def ip(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(frozen=True)
class _Vocabulary:
    notice_free: frozenset[str]
    tlds: frozenset[str]
    extension_tlds: frozenset[str]
    organisation: frozenset[str]
    not_name: frozenset[str]
    particles: frozenset[str]
    suffixes: frozenset[str]
    phone_words: frozenset[str]
    allowlist: tuple[str, ...]


@functools.cache
def _vocabulary() -> _Vocabulary:
    data: dict[str, Any] = yaml.safe_load(
        resources.files("tritter.curate").joinpath(RULES_FILE).read_text(encoding="utf-8")
    )

    def words(key: str) -> frozenset[str]:
        return frozenset(str(word).lower() for word in data[key])

    return _Vocabulary(
        notice_free=words("notice_free_licenses"),
        tlds=words("generic_tlds"),
        extension_tlds=words("extension_tlds"),
        organisation=words("organisation_words"),
        not_name=words("not_name_words"),
        particles=words("name_particles"),
        suffixes=words("name_suffixes"),
        phone_words=words("phone_words"),
        allowlist=tuple(str(entry) for entry in data["allowlist"]),
    )


def default_allowlist() -> tuple[str, ...]:
    """The built-in allowlist entries (`pii_rules.yaml`)."""
    return _vocabulary().allowlist


_DOMAIN_ENTRY = re.compile(r"^\.?[a-z0-9-]+(?:\.[a-z0-9-]+)*$")


@functools.cache
def allowlist(extra: tuple[str, ...] = ()) -> Allowlist:
    """The built-in allowlist plus `extra` entries (see `pii_rules.yaml` for their forms)."""
    mailboxes, domains, emails, literals = set(), set(), set(), set()
    networks: list[IPNetwork] = []
    for entry in (*_vocabulary().allowlist, *extra):
        value = entry.strip().lower()
        if not value:
            continue
        if value.endswith("@"):
            mailboxes.add(value[:-1])
        elif value.startswith("@"):
            domains.add(value[1:])
        elif "@" in value:
            emails.add(value)
        else:
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
                continue
            except ValueError:
                pass
            if _DOMAIN_ENTRY.match(value) and ("." in value or value == "localhost"):
                domains.add(value.lstrip("."))
            else:
                literals.add(value)
    return Allowlist(frozenset(mailboxes), frozenset(domains), frozenset(emails),
                     tuple(networks), frozenset(literals))  # fmt: skip


def retains_notice(license_id: str) -> bool:
    """Whether the licence requires its copyright notice to be kept (see the module doc)."""
    return license_id.lower() not in _vocabulary().notice_free


# -- email ----------------------------------------------------------------------------------------

_LOCAL_SYMBOLS = frozenset("._%+-_")  # with letters and digits of any script (RFC 6531)
_DOMAIN = re.compile(  # labels of letters and digits of any script (IDN); an ASCII TLD
    r"(?:[^\W_](?:[^\W_]|-){0,62}\.)+([A-Za-z]{2,24})(?![\w-]|\.[^\W_])"
)


# RFC 2606 / RFC 6761 names: a name next to an address there is a placeholder too.
_EXAMPLE_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|org|net|edu)|example|test|invalid|localhost)$", re.IGNORECASE
)


@dataclass(frozen=True)
class _Email:
    start: int
    end: int
    allowed: bool
    example: bool  # at a reserved example domain


def _emails(text: str, allow: Allowlist) -> list[_Email]:
    """Every address in the text, allowed or not (names before an allowed one still count)."""
    vocabulary = _vocabulary()
    found = []
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start <= 64:
            char = text[start - 1]
            if not (char.isalnum() or char in _LOCAL_SYMBOLS):
                break
            start -= 1
        while start < at and not text[start].isalnum():
            start += 1
        match = _DOMAIN.match(text, at + 1) if 0 < at - start <= 64 else None
        if match is None or text[at - 1] == "." or (start > 0 and text[start - 1].isalnum()):
            at = text.find("@", at + 1)
            continue
        tld = match.group(1)
        valid = (tld.islower() or tld.isupper()) and (
            tld.lower() not in vocabulary.extension_tlds
            if len(tld) == 2
            else tld.lower() in vocabulary.tlds
        )
        if valid and match.end() - start <= 254:
            local, domain = text[start:at], text[at + 1 : match.end()]
            allowed = allow.email(local, domain) or f"{local}@{domain}".lower() in allow.literals
            example = _EXAMPLE_DOMAIN.search(domain) is not None
            found.append(_Email(start, match.end(), allowed, example))
        at = text.find("@", match.end())
    return found


# -- IP addresses ---------------------------------------------------------------------------------

# Candidates are found by patterns that start with a literal (CPython skips to it in C; a
# character class or a leading lookbehind is tried position by position), and their
# boundaries are checked after.
_QUAD_ANCHOR = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # a literal first: ~10x faster
_DOTTED_QUAD = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_OCTET = re.compile(r"0|[1-9]\d{0,2}")
_DIGIT_DOT = re.compile(r"\d\.\d")
_IPV6_ANCHOR = re.compile(r":[0-9A-Fa-f]{0,4}:")  # two colons close together
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:")
_IPV6 = re.compile(
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?"
    r"(?![\w:])"
)
_WORD_OR_DOT = re.compile(r"[\w.]")
_WORD_AFTER = re.compile(r"\.?\w")
_VERSION_WORDS = (
    r"(?:v|ver|vers|version|versions|version_info|__version__|release|rel|rev"
    r"|revision|build|tag|firmware|fw|oid|sdk)"
)
_VERSION_BEFORE = re.compile(
    rf"(?:(?:^|[^a-z0-9]){_VERSION_WORDS}|[<>=~!^]=|[<>~^])[\s\"'=:(,\[-]{{0,4}}$", re.IGNORECASE
)
_CAMEL_VERSION_BEFORE = re.compile(  # appVersion, minSdk, buildTag
    r"[a-z](?:V|Ver|Version|Release|Rev|Revision|Build|Tag|Firmware|Oid|Sdk)[\s\"'=:(,\[-]{0,4}$"
)


def _line_before(text: str, position: int, limit: int = 48) -> str:
    start = max(text.rfind("\n", 0, position) + 1, position - limit)
    return text[start:position]


def _special(address: IPAddress) -> bool:
    """Not a host of a person or an organisation: documentation, loopback, unspecified,
    link-local, multicast, reserved, benchmarking, protocol assignments (not globally
    reachable and not a private-use range)."""
    if address.is_multicast:
        return True
    if address.is_global:
        return False
    return not any(address in n for n in _PRIVATE_USE if n.version == address.version)


def _ipv4_kept(address: ipaddress.IPv4Address, octets: list[str], allow: Allowlist) -> bool:
    if _special(address):
        return True
    if all(len(octet) == 1 for octet in octets[:3]) or octets[2] == octets[3] == "0":
        return True  # version-like (1.2.3.4, 7.1.4.34) or a network boundary (10.20.0.0)
    value = int(address)
    if ((~value & 0xFFFFFFFF) & ((~value & 0xFFFFFFFF) + 1)) == 0 or (value & (value + 1)) == 0:
        return True  # netmask or wildcard mask
    return allow.ip(address) or str(address) in allow.literals


_CIDR = re.compile(r"/(\d{1,3})(?!\d)")


def _network(text: str, end: int, address: IPAddress) -> bool:
    """Whether the address is followed by a prefix length that makes it a network's (its host
    bits zero): `192.168.1.0/24` names a network, not a host."""
    match = _CIDR.match(text, end)
    if match is None:
        return False
    try:
        ipaddress.ip_network(f"{address}/{match.group(1)}")
    except ValueError:
        return False
    return int(match.group(1)) < address.max_prefixlen


def _anchored(
    text: str, anchor: re.Pattern[str], pattern: re.Pattern[str], back: int
) -> Iterable[re.Match[str]]:
    """Matches of `pattern` starting up to `back` characters before each match of `anchor`
    (a pattern that starts with a literal, which CPython finds much faster than a character
    class), the earliest start first, none overlapping."""
    covered = 0
    for hit in anchor.finditer(text):
        if hit.start() < covered:
            continue
        for start in range(max(hit.start() - back, covered), hit.start()):
            match = pattern.match(text, start)
            if match is not None and match.end() > hit.start():
                covered = match.end()
                yield match
                break


def _ipv4s(text: str, allow: Allowlist) -> list[Finding]:
    found = []
    for match in _anchored(text, _QUAD_ANCHOR, _DOTTED_QUAD, 3):
        start, end = match.span()
        if start > 0 and _WORD_OR_DOT.match(text, start - 1):
            continue  # part of a word or of a longer dotted number (v1.2.3.4, an OID)
        if _WORD_AFTER.match(text, end):
            continue  # 1.2.3.4.5, 1.2.3.4a, 1.2.3.4.tar.gz (a full stop may follow)
        value = match.group()
        octets = value.split(".")
        if not all(_OCTET.fullmatch(octet) and int(octet) <= 255 for octet in octets):
            continue  # 256.1.1.1, 01.02.03.04: not written as an address
        address = ipaddress.IPv4Address(value)
        if _ipv4_kept(address, value.split("."), allow) or _network(text, match.end(), address):
            continue
        before = _line_before(text, match.start())
        if _VERSION_BEFORE.search(before) or _CAMEL_VERSION_BEFORE.search(before):
            continue
        found.append(Finding("ip_address", match.start(), match.end()))
    return found


def _ipv6_candidates(text: str) -> Iterable[re.Match[str]]:
    """Matches of `_IPV6` around each pair of close colons, from the start of their run of
    hex digits and colons, each once."""
    covered = 0
    for anchor in _IPV6_ANCHOR.finditer(text):
        if anchor.start() < covered:
            continue
        start = anchor.start()
        while start > 0 and text[start - 1] in _IPV6_CHARS and anchor.start() - start < 40:
            start -= 1
        if start > 0 and _WORD_OR_DOT.match(text, start - 1):
            covered = anchor.end()
            continue  # std::vector, a.b::c
        match = _IPV6.match(text, start)
        if match is None or match.end() <= anchor.start():
            covered = anchor.end()
            continue
        covered = match.end()
        yield match


def _ipv6s(text: str, allow: Allowlist) -> list[Finding]:
    found = []
    for match in _ipv6_candidates(text):
        value = match.group()
        if not any(c.isdigit() for c in value):
            continue
        groups = [g for g in re.split(r"[:.%]", value) if g]
        if all(g.isdigit() for g in groups) and not any(len(g) == 4 for g in groups):
            continue  # a slice (x[10::20]) or a colon-separated list of small numbers
        try:
            address = ipaddress.IPv6Address(value.partition("%")[0])
        except ValueError:
            continue
        mapped = address.ipv4_mapped
        if mapped is not None:
            if _ipv4_kept(mapped, str(mapped).split("."), allow):
                continue
        elif (
            _special(address) or address.is_reserved or address.is_site_local
            or value.endswith("::")
            or _network(text, match.end(), address)
            or allow.ip(address) or value.lower() in allow.literals
        ):  # fmt: skip
            continue  # a network (2001:db8:1::, fd00::/8) is not a host
        found.append(Finding("ip_address", match.start(), match.end()))
    return found


# -- phone numbers --------------------------------------------------------------------------------

_PHONE_INTL = re.compile(r"\+\d(?:[ .\-/()]{0,2}\d){7,14}")
_NANP = re.compile(r"(\d{3})([.\-]|\) ?)(\d{3})([.\-])(\d{4})")
_NANP_ANCHORS = tuple(
    re.compile(p) for p in (r"-\d{3}-\d{4}", r"\.\d{3}\.\d{4}", r"\) ?\d{3}[.\-]\d{4}")
)
_PHONE_NATIONAL = re.compile(r"\(?\d{2,5}\)?(?:[ \-/.]\d{2,8}){1,4}")
_NON_DIGIT = re.compile(r"\D")
_DOTTED_GROUPS = re.compile(r"\+\d{1,3}(?:\.\d{1,4}){2,5}")
_BEFORE_PHONE = frozenset(".-+/$#_")  # besides letters and digits: 1.415-555-2671 is not one
_AFTER_PHONE = re.compile(r"\w|[.\-/]\d")


def _bounded(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] stands alone: not part of a longer number, word or path."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in _BEFORE_PHONE):
        return False
    return _AFTER_PHONE.match(text, end) is None


def _fictional(number: str) -> bool:
    """The NANP's 555-0100..0199, reserved for fiction (the phones' documentation range)."""
    digits = _NON_DIGIT.sub("", number)
    return len(digits) >= 7 and digits[-7:-4] == "555" and digits[-4:-2] == "01"


_PHONE_STEMS = ("phone", "tel", "fax", "mobile")  # every phone word holds one
_LETTERS = re.compile(r"[^\W\d_]*")


def _phone_lines(lowered: str) -> list[tuple[int, int]]:
    """(after the phone word, the line's end) of every line that names a phone number: each
    word holding one of the stems is looked up in the phone words."""
    words = _vocabulary().phone_words
    spans = []
    for stem in _PHONE_STEMS:
        position = lowered.find(stem)
        while position != -1:
            start = position
            while start > 0 and lowered[start - 1].isalpha():
                start -= 1
            end = _LETTERS.match(lowered, position).end()
            if lowered[start:end] in words:
                line_end = lowered.find("\n", end)
                spans.append((end, len(lowered) if line_end == -1 else line_end))
            position = lowered.find(stem, end)
    return sorted(spans)


def _in_spans(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _phones(text: str, lowered: str, allow: Allowlist) -> list[Finding]:
    found = []
    lines = _phone_lines(lowered)
    if "+" in text:
        for match in _PHONE_INTL.finditer(text):
            start, end = match.span()
            value = match.group()
            digits = _NON_DIGIT.sub("", value)
            if not 8 <= len(digits) <= 15 or not _bounded(text, start, end):
                continue
            if value.count("(") != value.count(")"):
                continue
            if len(digits) + 1 == len(value) and not _in_spans(start, lines):
                continue  # +4294967296: a signed literal, unless on a phone line (tel:+31...)
            if "." in value and not _DOTTED_GROUPS.fullmatch(value):
                continue  # +35236450.6: a decimal
            if _fictional(value) or value.lower() in allow.literals:
                continue
            found.append(Finding("phone", start, end))
    nanp = [m for anchor in _NANP_ANCHORS for m in _anchored(text, anchor, _NANP, 3)]
    for match in nanp:
        start, end = match.span()
        area, separator, exchange = match.group(1), match.group(2), match.group(3)
        if separator[0] == ")":
            if start == 0 or text[start - 1] != "(":
                continue
            start -= 1
        elif separator != match.group(4):
            continue  # 415-555.2671: not one number's layout
        if text[max(start - 2, 0) : start] in ("1 ", "1-", "1."):  # country code
            start -= 2
            if start > 0 and text[start - 1] == "+":
                start -= 1
        if area[0] in "01" or area[1:] == "11" or exchange[0] in "01":
            continue  # not a NANP area code and exchange
        if _fictional(match.group()) or not _bounded(text, start, end):
            continue
        if text[start:end].lower() in allow.literals:
            continue
        found.append(Finding("phone", start, end))
    for line_start, line_end in lines:  # national numbers, only where a line names them
        for match in _PHONE_NATIONAL.finditer(text, line_start, line_end):
            start, end = match.span()
            digits = _NON_DIGIT.sub("", match.group())
            if not 9 <= len(digits) <= 13 or not _bounded(text, start, end):
                continue
            if _fictional(match.group()) or match.group().lower() in allow.literals:
                continue
            found.append(Finding("phone", start, end))
    return found


# -- names ----------------------------------------------------------------------------------------

# Lower-case words one of which every author or copyright line holds (" by " for "written by").
_NAME_KEYWORDS = ("author", "copyright", "(c)", "©", "maintain", "credits", "contribut", "by:",
                  " by ")  # fmt: skip
_AUTHOR_MARKER = re.compile(
    r"(?:@|__)?(?:authors?|maintainers?|credits|contributors?|original[ _]authors?)(?:__)?"
    r"[\"']?(?:\*\*)?\s*(?::|=>|=|\s(?=\s*[A-Z]))"
    r"|(?:written|created|contributed|maintained|developed|coded|ported|implemented)\s+by\b"
    r"|(?:signed-off|co-authored|reviewed|acked|tested|reported|suggested|helped)-by:"
    r"|@author\b",
    re.IGNORECASE,
)
_COPYRIGHT_MARKER = re.compile(r"\bcopyright\b|(?<!\w)\(c\)|©", re.IGNORECASE)
_NOTICE = re.compile(r"\d{4}|\([cC]\)|©")
_COPYRIGHT_LEAD = re.compile(
    r"(?:\s|\d|[,.;:\-–—/]|\(c\)|©|\bpresent\b|\bnow\b|\bcopyright\b|\bby\b)*", re.IGNORECASE
)
_SEGMENT_BREAK = re.compile(
    r"[,;/|<>()\[\]{}\"`:=*#]|'(?![a-z])|(?<![A-Za-z])'|\s(?:and|und|et|&|-|–|—)\s|\s{2,}|\t"
    r"|\ball rights reserved\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\S+")


def _name_token(token: str, vocabulary: _Vocabulary) -> str | None:
    """'word', 'initial', 'particle', 'suffix', 'org' (an organisation word: what it is part of
    is no person's name) or None (not part of a personal name)."""
    lowered = token.lower()
    if lowered.rstrip(".,") in vocabulary.organisation and lowered not in vocabulary.particles:
        return "org"
    if lowered.rstrip(".,") in vocabulary.not_name:
        return None
    if lowered in vocabulary.suffixes:
        return "suffix"
    if lowered in vocabulary.particles:
        return "particle" if token.islower() else "word"  # El Amrani, Van Damme
    if len(token) == 2 and token[1] == "." and token[0].isupper():
        return "initial"
    if re.fullmatch(r"(?:[A-Z]\.){2,3}", token):
        return "initial"
    word = token.rstrip(".")
    if len(word) < 2 or not word[0].isupper():
        return None
    for part in re.split(r"[-'’]", word):
        if not part:
            return None
        if not (part[0].isupper() or part in ("d", "l")) or not part.isalpha():
            return None
        rest = part[1:]
        if rest and not rest.islower():
            prefix = re.match(r"(?:Mc|Mac|De|Di|Da|La|Le|Van|Von)(?=[A-Z][a-z])", part)
            if prefix is None or not part[prefix.end() + 1 :].islower():
                return None
    return "word"


_NAME_KINDS = frozenset({"word", "initial", "particle", "suffix"})


def _name_span(text: str, start: int, end: int, trailing: bool = False) -> tuple[int, int] | None:
    """The span of the personal name that starts text[start:end] (after a leading 'by') —
    'Valentina Greco on 12/03/2022' — or, with `trailing`, that ends it ('Thanks to Jane
    Doe'). A run of name words next to an organisation word is no person's name."""
    vocabulary = _vocabulary()
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text, start, end)]
    kinds = [_name_token(text[a:b], vocabulary) for a, b in tokens]
    if trailing:
        first = len(kinds)
        while first > 0 and kinds[first - 1] in _NAME_KINDS and len(kinds) - first < 5:
            first -= 1
        if first > 0 and kinds[first - 1] == "org":
            return None
        while first < len(kinds) and kinds[first] in ("particle", "suffix"):
            first += 1
        tokens, kinds = tokens[first:], kinds[first:]
    else:
        if tokens and text[tokens[0][0] : tokens[0][1]].lower() == "by":
            tokens, kinds = tokens[1:], kinds[1:]
        stop = 0
        while stop < len(kinds) and kinds[stop] in _NAME_KINDS:
            stop += 1
        if stop < len(kinds) and kinds[stop] == "org":
            return None
        tokens, kinds = tokens[:stop], kinds[:stop]
        while kinds and kinds[-1] == "particle":
            tokens, kinds = tokens[:-1], kinds[:-1]
    if not 2 <= len(tokens) <= 5 or kinds[0] not in ("word", "initial"):
        return None
    words = kinds.count("word")
    if words < 1 or words + kinds.count("initial") < 2 or kinds[-1] == "initial":
        return None
    last_end = tokens[-1][1]
    if kinds[-1] == "word" and text[last_end - 1] == ".":
        last_end -= 1  # the sentence's full stop, not the name's
    return tokens[0][0], last_end


def _names_in(text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    """Personal names among the segments (split at commas, 'and', brackets, quotes…) of
    text[start:end]."""
    position = start
    for match in _SEGMENT_BREAK.finditer(text, start, end):
        span = _name_span(text, position, match.start())
        if span is not None:
            yield span
        position = match.end()
    span = _name_span(text, position, end)
    if span is not None:
        yield span


_OPEN_VALUE = re.compile(r"[\s:=\"'*]*[\[{(]?[\s{]*$")  # `authors = [`, `maintainers:`
_HEADING = re.compile(  # an author section's heading: `=head1 AUTHOR`, `## Authors`, `.SH AUTHORS`
    r"[ \t]*(?:=head\d[ \t]+|\.SH[ \t]+|#+[ \t]*|[*_]{1,2})?"
    r"(?:authors?|maintainers?|credits|contributors)[ \t:*_]*$",
    re.IGNORECASE,
)
_CLOSING = re.compile(r"[ \t]*[\]})]")
_LINE_PREFIX = re.compile(r"[ \t#/*;%!]*")  # indentation and comment leaders
_BLOCK_LINES = 50


def _block(text: str, line_start: int, value: int, line_end: int) -> Iterable[tuple[int, int]]:
    """The lines of a list an author marker opens: `maintainers:` then `- name: …` lines,
    `"contributors": [` then its items, `# Credits:` then indented comment lines — up to a
    blank line, a closing bracket or a line no deeper than the marker's (a YAML item may sit
    at its level) — or the paragraph under an author heading (`=head1 AUTHOR`, `## Authors`)."""
    heading = _HEADING.fullmatch(text, line_start, line_end) is not None
    if not heading and not _OPEN_VALUE.match(text, value, line_end):
        return
    indent = _LINE_PREFIX.match(text, line_start, line_end).end() - line_start
    position = line_end + 1
    blank_allowed = heading
    for _ in range(_BLOCK_LINES):
        if position >= len(text):
            return
        end = text.find("\n", position)
        end = len(text) if end == -1 else end
        depth = _LINE_PREFIX.match(text, position, end).end() - position
        if depth == end - position:  # a blank line (or a bare comment leader)
            if not blank_allowed:
                return
            blank_allowed = False
            position = end + 1
            continue
        blank_allowed = False
        if _CLOSING.match(text, position, end):
            return
        if not heading and (depth < indent or (depth == indent and text[position + depth] != "-")):
            return
        yield position, end
        position = end + 1


_BY_VERBS = ("written", "created", "contributed", "maintained", "developed", "coded", "ported",
             "implemented")  # fmt: skip


def _marker_at(lowered: str, keyword: str, position: int) -> bool:
    """Cheap checks that spare the line regexes most lines: ' by ' after an authoring verb,
    '(c)' not a call's argument (`f(c)`)."""
    if keyword == " by ":
        return lowered.endswith(_BY_VERBS, max(position - 12, 0), position)
    if keyword == "(c)":
        return position == 0 or not (
            lowered[position - 1].isalnum() or lowered[position - 1] == "_"
        )
    return True


def _lines_with(lowered: str, keywords: Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) of every line holding one of `keywords`, in order, each once."""
    starts = set()
    for keyword in keywords:
        position = lowered.find(keyword)
        while position != -1:
            if not _marker_at(lowered, keyword, position):
                position = lowered.find(keyword, position + 1)
                continue
            line_start = lowered.rfind("\n", 0, position) + 1
            starts.add(line_start)
            line_end = lowered.find("\n", position)
            if line_end == -1:
                break
            position = lowered.find(keyword, line_end)
    lines = []
    for line_start in sorted(starts):
        line_end = lowered.find("\n", line_start)
        lines.append((line_start, len(lowered) if line_end == -1 else line_end))
    return lines


def _names(
    text: str, lowered: str, emails: list[_Email], license_id: str, author_file: bool
) -> list[Finding]:
    found: list[Finding] = []
    retained: list[tuple[int, int]] = []
    keep_holders = retains_notice(license_id)
    present = [k for k in _NAME_KEYWORDS if k in lowered]
    lines = _lines_with(lowered, present) if present else []
    if author_file:
        lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    for start, end in lines:
        copyright_ = _COPYRIGHT_MARKER.search(text, start, end)
        author = _AUTHOR_MARKER.search(text, start, end)
        if author is None and copyright_ is None and _HEADING.fullmatch(text, start, end):
            for item_start, item_end in _block(text, start, end, end):
                found += [Finding("name", *s) for s in _names_in(text, item_start, item_end)]
            continue
        if copyright_ is not None and (author is None or copyright_.start() < author.start()):
            value = _COPYRIGHT_LEAD.match(text, copyright_.end(), end).end()
            lead = text[copyright_.start() : value]
            if not _NOTICE.search(lead):
                continue  # "Copyright notices are kept": prose, not a notice (no year, no ©)
            for span in _names_in(text, value, end):
                (retained if keep_holders else found).append(
                    span if keep_holders else Finding("name", *span)
                )
        elif author is not None:
            found += [Finding("name", *span) for span in _names_in(text, author.end(), end)]
            for item_start, item_end in _block(text, start, author.end(), end):
                found += [Finding("name", *s) for s in _names_in(text, item_start, item_end)]
        elif author_file:
            found += [Finding("name", *span) for span in _names_in(text, start, end)]
    for email in emails:  # Name <email>, anywhere
        if email.example or email.start == 0 or text[email.start - 1] != "<":
            continue
        line_start = text.rfind("\n", 0, email.start) + 1
        before = text[line_start : email.start - 1].rstrip().rstrip("\"'")
        cut = max((m.end() for m in _SEGMENT_BREAK.finditer(before)), default=0)
        span = _name_span(text, line_start + cut, line_start + len(before), trailing=True)
        if span is not None and not any(a <= span[0] < b for a, b in retained):
            found.append(Finding("name", *span))
    return found


# -- the scan -------------------------------------------------------------------------------------


def scan(
    text: str,
    lowered: str | None = None,
    *,
    license_id: str = "unknown",
    allow: Allowlist | None = None,
    path: str = "",
    kinds: Iterable[str] = KINDS,
) -> list[Finding]:
    """Every personal value in `text` (`lowered`: its lower-cased copy, when at hand), in
    order, none overlapping another. `license_id` decides whether copyright holders are kept;
    `path` marks author files."""
    allow = allowlist() if allow is None else allow
    wanted = set(kinds)
    if lowered is None or len(lowered) != len(text):
        lowered = _lower_in_place(text)
    found: list[Finding] = []
    emails = _emails(text, allow) if "@" in text else []
    if "email" in wanted:
        found += [Finding("email", e.start, e.end) for e in emails if not e.allowed]
    if "ip_address" in wanted:
        found += _ipv4s(text, allow)
        if ":" in text:
            found += _ipv6s(text, allow)
    if "phone" in wanted:
        found += _phones(text, lowered, allow)
    if "name" in wanted:
        stem = path.rpartition("/")[2].partition(".")[0].lower()
        names = _names(text, lowered, emails, license_id, stem in AUTHOR_FILES)
        found += [f for f in names if text[f.start : f.end].lower() not in allow.literals]
    return _resolve(found)


def _lower_in_place(text: str) -> str:
    """The lower-cased text, each character at its place (a few characters, such as 'İ',
    lower-case to two)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Sorted by start (the longer first), each overlapping a previous one left out."""
    result: list[Finding] = []
    end = -1
    for finding in sorted(found, key=lambda f: (f.start, -f.end)):
        if finding.start >= end:
            result.append(finding)
            end = finding.end
    return result


def redact(text: str, findings: list[Finding]) -> str:
    """`text` with every finding replaced by its kind's placeholder."""
    if not findings:
        return text
    parts = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(PLACEHOLDERS[finding.kind])
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """kind → values found."""
    return dict(sorted(Counter(f.kind for f in findings).items()))


def redact_field(value: str, allow: Allowlist | None = None) -> str:
    """A metadata field (a path, a repository) with its email and IP addresses replaced."""
    if "@" not in value and not _DIGIT_DOT.search(value):
        return value
    return redact(value, scan(value, allow=allow, kinds=("email", "ip_address")))
