"""Calculator agent: arithmetic, percentages and powers from everyday phrasing, without ``eval``.

The text is rewritten from words to symbols ("15% of 80" -> ``(15/100)*80``,
"5 squared" -> ``5^2``), every word that is not part of a calculation is
dropped, and what remains must parse completely with a small recursive-descent
parser: two numbers with nothing between them ("6 shirts at $499 each") are
refused with a clear reply instead of a guess. A follow-up that starts with an
operator ("times 4", "and divide that by 2") continues from the last result.

Example::

    >>> CalculatorAgent().handle(AgentTurn("s", ({"role": "user", "content": "15% of 80"},),
    ...                                    "calculator")).reply
    '15% of 80 = 12'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ...agents.base import CANCEL_INTENT, AgentReply, AgentTurn, cancelled

_MAX_EXPONENT = 10_000
_MAX_MAGNITUDE = 1e300

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = "|".join([*_ONES, *_TENS, *_SCALES])
_NUMBER_WORDS = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:and\s+)?(?:{_NUMBER_WORD}))*\b")

NUM = r"-?\d+(?:\.\d+)?"

# (pattern, replacement) applied in order; each turns a phrase into symbols.
_REWRITES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(rf"({NUM})\s*(?:%|percent)\s+off\s+(?:of\s+)?({NUM})"), r"(\2*(1-\1/100))"),
    (re.compile(rf"({NUM})\s*(?:%|percent)\s+of\s+"), r"(\1/100)*"),
    (re.compile(rf"({NUM})\s*(?:%|percent)"), r"(\1/100)"),
    (
        re.compile(r"\b(?:average|mean)\s+of\s+([\d.\s,and-]+\d)"),
        lambda m: "avg(" + ",".join(re.findall(NUM, m.group(1))) + ")",
    ),
    (
        re.compile(r"\bsum\s+of\s+([\d.\s,and-]+\d)"),
        lambda m: "(" + "+".join(re.findall(NUM, m.group(1))) + ")",
    ),
    (re.compile(rf"\badd\s+({NUM})\s+(?:to|and)\s+"), r"\1+"),
    (re.compile(rf"\bsubtract\s+({NUM})\s+from\s+({NUM})"), r"(\2-\1)"),
    (re.compile(rf"\bdivide\s+({NUM})\s+by\s+"), r"\1/"),
    (re.compile(rf"\bmultiply\s+({NUM})\s+(?:by|and|with)\s+"), r"\1*"),
    (re.compile(r"\b(?:the\s+)?square\s+root\s+of\b|\bsqrt\b"), " sqrt "),
    (re.compile(r"\b(?:the\s+)?cube\s+root\s+of\b|\bcbrt\b"), " cbrt "),
    (
        re.compile(r"\bto\s+the\s+(?:power\s+of|power)\b|\braised\s+to(?:\s+the\s+power\s+of)?\b"),
        "^",
    ),
    (re.compile(r"\*\*"), "^"),
    (re.compile(r"\bsquared\b"), "^2"),
    (re.compile(r"\bcubed\b"), "^3"),
    (re.compile(r"\bmultiplied\s+(?:by|with)\b|\btimes\b|×|(?<=\d)\s*x\s*(?=[\d(])"), "*"),
    (re.compile(r"\bdivided\s+by\b|\bover\b|÷"), "/"),
    (re.compile(r"\bplus\b"), "+"),
    (re.compile(r"\bminus\b|\bless\b"), "-"),
    (re.compile(r"\bmod(?:ulo)?\b"), " mod "),
]
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|mod|sqrt|cbrt|avg|[-+*/^(),]|[a-z]+", re.IGNORECASE)
_FUNCS: dict[str, Callable[[list[float]], float]] = {
    "sqrt": lambda a: _sqrt(a[0]),
    "cbrt": lambda a: math.copysign(abs(a[0]) ** (1 / 3), a[0]),
    "avg": lambda a: sum(a) / len(a),
}
_CLAIM = re.compile(
    r"\d ?(?:[+*^×÷%]|percent|plus|minus|times|multiplied|divided|squared|cubed|to the power)"
    r"|root of|(?:sum|average) of \d|(?:divide|multiply|subtract) \d"
)
_DIGIT = re.compile(r"\d")


def claims(text: str) -> bool:
    """Whether ``text`` is plainly a calculation, so the agent stage lets the calculator claim it.

    A cheap gate first (no digit and no "root of": not a calculation), since the
    agent stage asks this of every query.
    """
    t = text.lower()
    if "root of" not in t and not _DIGIT.search(t):
        return False
    return _CLAIM.search(t) is not None


_REFERENCES = re.compile(r"\b(?:that|it|the\s+result|the\s+answer|this)\b")
_NEEDS_PROMPT = "What should I calculate? For example: 15% of 80, 2^10, or the square root of 81."


class CalculationError(ValueError):
    """The text holds numbers but no calculation the parser can finish."""


def _sqrt(x: float) -> float:
    if x < 0:
        raise CalculationError("the square root of a negative number is not a real number")
    return math.sqrt(x)


def words_to_numbers(text: str) -> str:
    """Replace number words ("sixty", "one hundred and five") with digits."""

    def convert(m: re.Match[str]) -> str:
        total, current = 0, 0
        for word in re.split(r"[\s-]+", m.group(0)):
            if word == "and":
                continue
            if word in _ONES:
                current += _ONES[word]
            elif word in _TENS:
                current += _TENS[word]
            elif word == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALES[word]
                current = 0
        return str(total + current)

    return _NUMBER_WORDS.sub(convert, text)


def normalize(text: str, previous: float | None = None) -> str:
    """The text rewritten into symbols (still with filler words).

    ``previous`` replaces references to the last result ("that", "it").
    """
    t = text.lower().replace("’", "'")
    if previous is not None:
        t = _REFERENCES.sub(f" {format_number(previous)} ", t)
    t = words_to_numbers(t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # thousands separators
    t = t.replace("$", " ").replace("€", " ").replace("£", " ")
    t = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " - ", t)
    t = re.sub(r"\s+-(?=\d)", " -", t)
    for pattern, repl in _REWRITES:
        t = pattern.sub(repl, t)
    return t


def tokenize(expression: str) -> list[str]:
    """Symbols only: numbers, operators, parentheses, known functions; words dropped."""
    out: list[str] = []
    depth = 0
    for tok in _TOKEN.findall(expression):
        if tok.isalpha() and tok not in ("mod", "sqrt", "cbrt", "avg"):
            continue
        if tok == "," and depth == 0:
            continue  # a comma between clauses, not between arguments
        depth += {"(": 1, ")": -1}.get(tok, 0)
        out.append(tok)
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|mod) unary)*;
    unary := '-' unary | power; power := atom ('^' unary)?;
    atom := number | '(' expr ')' | func '(' expr (',' expr)* ')' | func unary
    """

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise CalculationError("the calculation ends early")
        self.pos += 1
        return tok

    def parse(self) -> float:
        if not self.tokens:
            raise CalculationError("there is no calculation in it")
        value = self.expr()
        if self.peek() is not None:
            raise CalculationError(f"I cannot read what comes after {self._before()!r}")
        return value

    def _before(self) -> str:
        return " ".join(self.tokens[: self.pos])

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return _checked(value)

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "mod"):
            op = self.take()
            rhs = self.unary()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise CalculationError("division by zero is undefined")
            else:
                value = value / rhs if op == "/" else math.fmod(value, rhs)
        return _checked(value)

    def unary(self) -> float:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exponent = self.unary()
            if abs(exponent) > _MAX_EXPONENT:
                raise CalculationError(f"the exponent {exponent:g} is too large")
            if base < 0 and exponent != int(exponent):
                raise CalculationError("a negative number to a fractional power is not real")
            if base == 0 and exponent < 0:
                raise CalculationError("zero to a negative power is undefined")
            try:
                return _checked(float(base) ** exponent)
            except OverflowError:
                raise CalculationError("the result is too large") from None
        return base

    def atom(self) -> float:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            self._expect(")")
            return value
        if tok in _FUNCS:
            if self.peek() == "(":
                self.take()
                args = [self.expr()]
                while self.peek() == ",":
                    self.take()
                    args.append(self.expr())
                self._expect(")")
            else:
                args = [self.unary()]
            return _checked(_FUNCS[tok](args))
        try:
            return float(tok)
        except ValueError:
            raise CalculationError(f"expected a number where {tok!r} is") from None

    def _expect(self, tok: str) -> None:
        if self.peek() != tok:
            raise CalculationError(f"a {tok!r} is missing")
        self.take()


def _checked(value: float) -> float:
    if math.isnan(value) or abs(value) > _MAX_MAGNITUDE:
        raise CalculationError("the result is too large")
    return value


def evaluate(text: str, previous: float | None = None) -> tuple[str, float]:
    """Parse and compute ``text``; returns the expression read and its value.

    ``previous`` continues a calculation: "times 4" or "divide that by 2".
    """
    tokens = tokenize(normalize(text, previous))
    if previous is not None and tokens and tokens[0] in ("+", "*", "/", "^", "mod"):
        tokens = [format_number(previous), *tokens]
    value = _Parser(tokens).parse()
    return " ".join(tokens), value


def format_number(value: float) -> str:
    """12.0 -> '12', 1/3 -> '0.3333333333'."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


class CalculatorAgent:
    """Answers the ``calculator`` intent on the device."""

    name = "calculator"
    claim = staticmethod(claims)

    def __init__(self, name: str = "calculator", **_: Any):
        self.name = name

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        previous = turn.slots.get("result")
        previous = float(previous) if isinstance(previous, (int, float)) else None
        text = turn.text
        if not re.search(r"\d", words_to_numbers(text.lower())) and previous is None:
            return AgentReply(reply=_NEEDS_PROMPT, state="need_input")
        try:
            expression, value = evaluate(text, previous)
        except CalculationError as exc:
            return AgentReply(
                reply=f"I couldn't calculate that: {exc}. {_NEEDS_PROMPT}",
                state="done",
                data={"error": str(exc)},
            )
        result = format_number(value)
        if previous is not None:
            shown = expression
        else:
            shown = text.strip().rstrip("?.! ")
            shown = re.sub(r"^(?:what(?:'s| is)|calculate|compute)\s+", "", shown, flags=re.I)
        return AgentReply(
            reply=f"{shown} = {result}",
            state="done",
            slots={"result": value, "expression": expression},
            data={"expression": expression, "result": value},
        )
