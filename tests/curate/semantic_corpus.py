"""A corpus with planted paraphrases for the semantic-dedup tests: eight unrelated Python
modules, and for three of them a copy with its functions in reverse order and a few of its
identifiers renamed (`paraphrase`). The renames are spread over several identifiers that each
occur two to four times: every occurrence breaks up to five word 5-grams, so the copy's
Jaccard against its original falls far below MinHash's threshold, while it moves only a few
per cent of the token counts an embedding averages over.
"""

from __future__ import annotations

import re

MODULES = {
    "inventory.py": '''"""Stock levels of a small warehouse."""


def restock(stock, item, quantity):
    """Add quantity units of item to the stock."""
    stock[item] = stock.get(item, 0) + quantity
    return stock[item]


def remove(stock, item, quantity):
    """Take units out; refuse to go below zero."""
    available = stock.get(item, 0)
    if quantity > available:
        raise ValueError(f"only {available} of {item} left")
    stock[item] = available - quantity
    return stock[item]


def low_items(stock, threshold=5):
    """Items whose level fell under the threshold, sorted by name."""
    return sorted(item for item, count in stock.items() if count < threshold)


def total_units(stock):
    return sum(stock.values())
''',
    "temperature.py": '''"""Summaries of temperature readings in degrees Celsius."""
import statistics


def to_fahrenheit(celsius):
    return celsius * 9 / 5 + 32


def daily_range(readings):
    """Difference between the warmest and the coldest reading of a day."""
    if not readings:
        return 0.0
    return max(readings) - min(readings)


def smoothed(readings, window=3):
    """Moving average over a sliding window of readings."""
    averages = []
    for start in range(len(readings) - window + 1):
        averages.append(statistics.mean(readings[start:start + window]))
    return averages


def frost_days(days):
    return [day for day, low in days.items() if low < 0]
''',
    "tokenize_words.py": '''"""Split prose into lower-case words and count them."""
import re
from collections import Counter

WORD = re.compile(r"[A-Za-z']+")


def words(text):
    return [match.group().lower() for match in WORD.finditer(text)]


def frequencies(text):
    """How often every word occurs."""
    return Counter(words(text))


def top_words(text, n=10):
    """The n most frequent words with their counts."""
    return frequencies(text).most_common(n)


def sentences(text):
    """Split on full stops, question and exclamation marks."""
    parts = re.split(r"[.!?]+", text)
    return [part.strip() for part in parts if part.strip()]
''',
    "matrix.py": '''"""Dense matrices as lists of rows."""


def zeros(rows, cols):
    return [[0.0] * cols for _ in range(rows)]


def transpose(matrix):
    return [list(column) for column in zip(*matrix)]


def multiply(left, right):
    """Product of two matrices with matching inner dimensions."""
    if len(left[0]) != len(right):
        raise ValueError("inner dimensions differ")
    result = zeros(len(left), len(right[0]))
    for i, row in enumerate(left):
        for j, column in enumerate(transpose(right)):
            result[i][j] = sum(a * b for a, b in zip(row, column))
    return result


def identity(size):
    result = zeros(size, size)
    for index in range(size):
        result[index][index] = 1.0
    return result
''',
    "routes.py": '''"""A tiny URL router for a web application."""

ROUTES = {}


def route(pattern):
    """Register a handler for a URL pattern such as /users/<id>."""
    def register(handler):
        ROUTES[pattern] = handler
        return handler
    return register


def match(pattern, path):
    """Captured parameters when path fits pattern, else None."""
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params = {}
    for part, value in zip(want, got):
        if part.startswith("<") and part.endswith(">"):
            params[part[1:-1]] = value
        elif part != value:
            return None
    return params


def dispatch(path):
    for pattern, handler in ROUTES.items():
        params = match(pattern, path)
        if params is not None:
            return handler(**params)
    return "404 not found"
''',
    "dates.py": '''"""Parsing and formatting calendar dates without datetime."""

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_iso(text):
    """'2024-03-09' -> (2024, 3, 9), checking the day exists."""
    year, month, day = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month):
        raise ValueError(f"no such date: {text}")
    return year, month, day


def pretty(year, month, day):
    return f"{day} {MONTHS[month - 1].title()} {year}"
''',
    "graph_search.py": '''"""Breadth-first search over an adjacency mapping."""
from collections import deque


def neighbours(graph, node):
    return graph.get(node, ())


def shortest_path(graph, start, goal):
    """Fewest-edges path from start to goal, or None when unreachable."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = previous[node]
            return path[::-1]
        for nxt in neighbours(graph, node):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def reachable(graph, start):
    seen, stack = {start}, [start]
    while stack:
        for nxt in neighbours(graph, stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
''',
    "accounts.py": '''"""Bank accounts with a transaction history."""


class Account:
    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("deposits must be positive")
        self.balance += amount
        self.history.append(("deposit", amount))

    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
        self.history.append(("withdraw", amount))


def transfer(source, target, amount):
    """Move money between two accounts atomically."""
    source.withdraw(amount)
    target.deposit(amount)


def statement(account):
    lines = [f"{kind:<10}{amount:>10.2f}" for kind, amount in account.history]
    return "\\n".join(lines + [f"{'balance':<10}{account.balance:>10.2f}"])
''',
}


# original path → (identifier renames, license of the original, license of the copy, stars of
# the original, stars of the copy); None: no license field (unknown, kept with
# --allow-unknown-license). The keep rule then decides: a known license first (inventory keeps
# the original, routes keeps the copy), then quality, then stars (graph_search).
PLANTS = {
    "inventory.py": ({"threshold": "limit", "count": "level", "available": "remaining"},
                     "mit", None, 5, 900),
    "routes.py": ({"want": "expected", "got": "actual", "register": "add"}, None, "mit", 700, 1),
    "graph_search.py": ({"goal": "target", "neighbours": "adjacent", "seen": "visited"},
                        "mit", "mit", 2, 40),
}  # fmt: skip


def paraphrase(text: str, renames: dict[str, str]) -> str:
    """`text` with its top-level functions and classes in reverse order, identifiers renamed."""
    head, *definitions = re.split(r"\n(?=def |class )", text)
    out = "\n".join([head, *reversed(definitions)])
    for old, new in renames.items():
        out = re.sub(rf"\b{old}\b", new, out)
    return out


def copy_path(original: str) -> str:
    return f"forks/{original.removesuffix('.py')}_v2.py"


def records() -> list[dict]:
    """The JSONL records: every module, then the planted copies (so they land in later
    shards than their originals)."""
    rows = []
    for path, text in MODULES.items():
        row = {"text": text, "path": f"src/{path}", "language": "python", "stars": 10}
        if path in PLANTS:
            _, license_, _, stars, _ = PLANTS[path]
            row["stars"] = stars
            if license_:
                row["license"] = license_
        else:
            row["license"] = "mit"
        rows.append(row)
    for path, (renames, _, license_, _, stars) in PLANTS.items():
        row = {"text": paraphrase(MODULES[path], renames), "path": copy_path(path),
               "language": "python", "stars": stars}  # fmt: skip
        if license_:
            row["license"] = license_
        rows.append(row)
    return rows
