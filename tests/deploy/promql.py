"""A small PromQL reader for CI: balanced brackets, known functions, metric names, labels.

Not a full parser: enough to catch a typo in a metric or function name, an unbalanced
expression, a malformed label matcher or a label the metric does not carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNCTIONS = frozenset(
    """abs absent avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min count
    count_over_time delta deriv floor histogram_quantile idelta increase irate label_replace
    max max_over_time min min_over_time quantile quantile_over_time rate resets round scalar
    sort sort_desc stddev sum sum_over_time time timestamp topk vector""".split()
)
KEYWORDS = frozenset({"by", "without", "and", "or", "unless", "on", "ignoring", "bool", "offset"})
BUILTIN_METRICS = frozenset({"up"})  # Prometheus's own series
PAIRS = {")": "(", "]": "[", "}": "{"}
MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|\$__\w+|\d[\d.]*(?:[eE][+-]?\d+)?|[a-zA-Z_:][a-zA-Z0-9_:]*|\S'
)
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str
    labels: tuple[str, ...]


def check_balanced(expr: str) -> None:
    """Raise ``ValueError`` when brackets are unbalanced (strings skipped)."""
    stack: list[str] = []
    for token in TOKEN.findall(expr):
        if token in "([{":
            stack.append(token)
        elif token in PAIRS:
            if not stack or stack.pop() != PAIRS[token]:
                raise ValueError(f"unbalanced {token!r} in {expr!r}")
    if stack:
        raise ValueError(f"unclosed {stack[-1]!r} in {expr!r}")


def read(expr: str) -> tuple[list[Selector], list[str]]:
    """Return the metric selectors and the grouping labels (``by``/``without``) of ``expr``.

    Raise ``ValueError`` for an unknown function or a malformed label matcher.
    """
    check_balanced(expr)
    tokens = TOKEN.findall(expr)
    selectors: list[Selector] = []
    grouping: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "[":  # a range or subquery duration
            index = tokens.index("]", index) + 1
            continue
        if token in ("by", "without", "on", "ignoring") and following == "(":
            close = tokens.index(")", index)
            grouping.extend(t for t in tokens[index + 2 : close] if t != ",")
            index = close + 1
            continue
        if NAME.fullmatch(token) and token not in KEYWORDS:
            if token in FUNCTIONS and following in ("(", "by", "without"):
                pass
            elif following == "(":
                if token not in FUNCTIONS:
                    raise ValueError(f"unknown function {token!r} in {expr!r}")
            else:
                labels: list[str] = []
                if following == "{":
                    close = tokens.index("}", index)
                    labels = matcher_labels("".join(tokens[index + 2 : close]), expr)
                    index = close
                selectors.append(Selector(token, tuple(labels)))
        index += 1
    return selectors, grouping


def matcher_labels(body: str, expr: str) -> list[str]:
    """Return the label names of a ``{...}`` body; raise for a malformed matcher."""
    labels = []
    for part in split_matchers(body):
        match = MATCHER.match(part)
        if match is None:
            raise ValueError(f"malformed label matcher {part!r} in {expr!r}")
        labels.append(match.group(1))
    return labels


def split_matchers(body: str) -> list[str]:
    parts, current, quoted = [], "", False
    for character in body:
        if character == '"':
            quoted = not quoted
        if character == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += character
    if current.strip():
        parts.append(current)
    return parts
