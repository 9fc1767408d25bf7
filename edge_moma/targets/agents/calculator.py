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

from ...agents.base import (
    CANCEL_INTENT,
    CANNOT,
    CERTAIN,
    POSSIBLE,
    AgentReply,
    AgentTurn,
    cancelled,
    not_a_command,
    words,
)
from .numbers import ONES, SCALES, TENS, without_thousands_separators, words_to_numbers

_MAX_EXPONENT = 10_000
_MAX_MAGNITUDE = 1e300
_MAX_FACTORIAL = 170
_MAX_NESTING = 64  # brackets, signs and powers inside one another; deeper is refused, not recursed

NUM = r"-?\d+(?:\.\d+)?"
_PCT = r"\s*(?:%|percent(?:age)?)"

# "to the third power": the ordinals a power is said with (beyond "squared" and "cubed").
_ORDINALS = {
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}  # fmt: skip
_ORDINAL = "|".join(_ORDINALS)

_SIDE = r"(?:\s*(?:foot|feet|ft|meters?|metres?|m|inch(?:es)?|in|yards?|cm))?"  # a length's unit

# (keys, pattern, replacement) applied in order: each turns a phrase into symbols, and
# runs only when one of its keys is in the text (most requests need few of them).
_PERCENT = ("%", "percent")
_Rewrite = tuple[tuple[str, ...], re.Pattern[str], str | Callable[[re.Match[str]], str]]
_REWRITES: list[_Rewrite] = [
    # A dozen is twelve: "5 dozen" is 5*12 (bracketed, so "6 dozen divided by 8" is 72/8),
    # "a dozen times 7" is 12*7, "half a dozen" (0.5 dozen by then) is 6.
    (("dozen",), re.compile(rf"({NUM})\s+dozen\b"), r"(\1*12)"),
    (("dozen",), re.compile(r"\b(?:a|one)\s+dozen\b"), "12"),
    (_PERCENT, re.compile(rf"\bwhat{_PCT}\s+of\s+({NUM})\s+is\s+({NUM})"), r"((\2/\1)*100)"),
    (_PERCENT, re.compile(rf"({NUM})\s+is\s+what{_PCT}\s+of\s+({NUM})"), r"((\1/\2)*100)"),
    (_PERCENT, re.compile(rf"({NUM})\s+as\s+an?{_PCT}\s+of\s+({NUM})"), r"((\1/\2)*100)"),
    (  # "18 out of 24 as a percentage"
        _PERCENT,
        re.compile(rf"({NUM})\s+(?:out\s+of|of)\s+({NUM})\s+(?:as|in)\s+(?:an?\s+)?{_PCT}"),
        r"((\1/\2)*100)",
    ),
    (
        _PERCENT,
        re.compile(rf"\bwhat{_PCT}\s+is\s+({NUM})\s+(?:of|out\s+of)\s+({NUM})"),
        r"((\1/\2)*100)",
    ),
    (
        _PERCENT,
        re.compile(rf"\b(?:increase|raise|add)\s+({NUM})\s+(?:by|plus)\s+({NUM}){_PCT}"),
        r"(\1*(1+\2/100))",
    ),
    (_PERCENT, re.compile(rf"\badd\s+({NUM}){_PCT}\s+to\s+({NUM})"), r"(\2*(1+\1/100))"),
    (
        _PERCENT,
        re.compile(rf"\b(?:decrease|reduce|lower|cut|discount)\s+({NUM})\s+by\s+({NUM}){_PCT}"),
        r"(\1*(1-\2/100))",
    ),
    (
        _PERCENT,
        re.compile(rf"({NUM})\s*(?:\+|plus)\s*({NUM}){_PCT}(?!\s*of)"),
        r"(\1*(1+\2/100))",
    ),
    (
        _PERCENT,
        re.compile(rf"({NUM})\s*(?:-|minus|less)\s*({NUM}){_PCT}(?!\s*of)"),
        r"(\1*(1-\2/100))",
    ),
    (_PERCENT, re.compile(rf"({NUM}){_PCT}\s+off\s+(?:of\s+)?({NUM})"), r"(\2*(1-\1/100))"),
    (_PERCENT, re.compile(rf"\btip\s+of\s+({NUM}){_PCT}\s+on\s+"), r"(\1/100)*"),
    (  # "a 15 percent tip on 60", "8 percent tax on 45": the tip's or the tax's amount
        _PERCENT,
        re.compile(
            rf"({NUM}){_PCT}\s+(?:(?:tip|tax|sales\s+tax|vat|interest|commission|fee)\s+)?"
            r"(?:of|on)\s+"
        ),
        r"(\1/100)*",
    ),
    (  # "3/4 as a percentage", "0.2 in percent": a share written as a percentage
        _PERCENT,
        re.compile(rf"({NUM})(?:\s*/\s*({NUM}))?\s+(?:as|in|into|to)\s+(?:an?\s+)?{_PCT}(?!\s+of)"),
        lambda m: f"(({m.group(1)}/{m.group(2) or 1})*100)",
    ),
    (_PERCENT, re.compile(rf"({NUM}){_PCT}"), r"(\1/100)"),
    (  # "convert 1/4 to a decimal", "3/8 in decimal": the fraction's value
        ("decimal",),
        re.compile(
            rf"(?:\b(?:convert|change|turn|write|express|put)\s+)?({NUM})\s*/\s*({NUM})\s+"
            r"(?:as|in|into|to)\s+(?:an?\s+)?decimals?(?:\s+(?:number|form|format))?\b"
        ),
        r"(\1/\2)",
    ),
    (
        ("average", "mean"),
        re.compile(r"\b(?:average|mean)\s+of\s+([\d.\s,and-]+\d)"),
        lambda m: "avg(" + ",".join(re.findall(NUM, m.group(1))) + ")",
    ),
    (  # "the sum of 10, 20 and 30", "the total of 4 5 and 6", "the product of 6 and 7"
        ("sum", "total", "product"),
        re.compile(r"\b(sum|total|product)\s+of\s+([\d.\s,and-]+\d)"),
        lambda m: (
            "(" + ("*" if m.group(1) == "product" else "+").join(re.findall(NUM, m.group(2))) + ")"
        ),
    ),
    (  # "the area of a 20 x 20 room", "area of a 5 by 8 rug": length times width
        ("area",),
        re.compile(
            rf"\barea\s+of\s+(?:an?\s+|the\s+|my\s+|our\s+)?({NUM}){_SIDE}\s*(?:x|by|\*|×)\s*"
            rf"({NUM}){_SIDE}(?:\s+(?:room|rug|"
            r"yard|garden|lot|wall|floor|rectangle|kitchen|bedroom|office|house|space|patio|deck|"
            r"carpet|table|field|plot|board|sheet|box))?\b"
        ),
        r"(\1*\2)",
    ),
    (  # "the quotient of 50 and 5", "the difference between 50 and 20" (first minus second)
        ("quotient", "difference"),
        re.compile(rf"\b(quotient|difference)\s+(?:of|between)\s+({NUM})\s+and\s+({NUM})\b"),
        lambda m: f"({m.group(2)}{'/' if m.group(1) == 'quotient' else '-'}{m.group(3)})",
    ),
    # Numbers joined "together": "add 8 and 15 together", "add together 40 and 2", "what's
    # 9 and 11 added together", "multiply 4 and 5 together" (a "together" ending a request
    # after a number only; "mix 2 cups of flour and 3 eggs together" stays words)
    (("together",), re.compile(r"\b(add|multiply)\s+(?:up\s+)?together\s+(?=[\d(-])"), r"\1 "),
    (
        ("together",),
        re.compile(
            rf"({NUM}(?:\s*,\s*{NUM})*,?\s+and\s+{NUM})\s+(?:(added)|multiplied)\s+together\b"
        ),
        lambda m: "(" + ("+" if m.group(2) else "*").join(re.findall(NUM, m.group(1))) + ")",
    ),
    (("together",), re.compile(r"(?<=\d)\s+together(?=\W*$)"), ""),
    (  # "add up 15, 20 and 35"
        ("add",),
        re.compile(rf"\badd\s+(?:up\s+)?({NUM}(?:\s*,\s*{NUM})+,?\s+and\s+{NUM})"),
        lambda m: "(" + "+".join(re.findall(NUM, m.group(1))) + ")",
    ),
    (("add",), re.compile(rf"\badd\s+(?:up\s+)?({NUM})\s+(?:to|and)\s+"), r"\1+"),
    (  # "what do 3 and 4 add up to", "what's 14 add 9"
        ("add",),
        re.compile(rf"({NUM})\s+and\s+({NUM})\s+add\s+up(?:\s+to)?\b|(?<=\d)\s+add\s+(?=\d)"),
        lambda m: f"({m.group(1)}+{m.group(2)})" if m.group(1) else "+",
    ),
    (
        ("go into",),
        re.compile(rf"\bhow\s+many\s+times\s+(?:does|can|will|do)\s+({NUM})\s+go\s+into\s+({NUM})"),
        r"(\2/\1)",
    ),
    (
        ("subtract", "subract", "substract", "subtact"),  # as people type it
        re.compile(rf"\bsub(?:s?t?r|t)?act\s+({NUM})\s+from\s+({NUM})"),
        r"(\2-\1)",
    ),
    (
        ("take",),
        re.compile(rf"\btake\s+(?:away\s+)?({NUM})\s+(?:away\s+)?from\s+({NUM})"),
        r"(\2-\1)",
    ),
    (("divide",), re.compile(rf"\bdivide\s+({NUM})\s+(?:by|into)\s+"), r"\1/"),
    (  # "split 90 three ways", "split 120 into 4 parts"
        ("split",),
        re.compile(
            rf"\bsplit\s+({NUM})\s+(?:in\s+|into\s+)?({NUM})\s+(?:ways|parts|equal\s+parts)\b"
        ),
        r"(\1/\2)",
    ),
    (("multiply",), re.compile(rf"\bmultiply\s+({NUM})\s+(?:by|and|with|times)\s+"), r"\1*"),
    (  # "the remainder of 17 divided by 5" is 17 mod 5, not 17 / 5
        ("remainder",),
        re.compile(
            rf"\b(?:the\s+)?remainder\s+(?:of|when|if)\s+({NUM})\s+(?:is\s+)?divided\s+by\s+"
            rf"({NUM})"
        ),
        r"\1 mod \2",
    ),
    (  # "what's 4 into 20": how many times 4 goes into 20 (not "cut 12 into 3 pieces")
        ("into",),
        re.compile(rf"\b(?:what's|whats|what\s+is|how\s+much\s+is)\s+({NUM})\s+into\s+({NUM})\b"),
        r"(\2/\1)",
    ),
    (("double", "twice"), re.compile(r"\b(?:double|twice)\s+(?=[\d(-])"), "2*"),
    (("triple", "thrice"), re.compile(r"\b(?:triple|thrice)\s+(?=[\d(-])"), "3*"),
    ((" of ",), re.compile(rf"({NUM})\s+of\s+(?=[\d(-])"), r"\1*"),  # "0.5 of 90": half of 90
    (
        ("factorial",),
        re.compile(rf"\bfactorial\s+(?:of\s+)?({NUM})|({NUM})\s*factorial\b"),
        r" fact \1\2 ",
    ),
    (("square",), re.compile(rf"\b(?:the\s+)?square\s+of\s+({NUM})"), r"(\1^2)"),  # not 12
    (("cube",), re.compile(rf"\b(?:the\s+)?cube\s+of\s+({NUM})"), r"(\1^3)"),
    (("sqrt", "root"), re.compile(r"\b(?:the\s+)?square\s+root\s+of\b|\bsqrt\b"), " sqrt "),
    (("cbrt", "root"), re.compile(r"\b(?:the\s+)?cube\s+root\s+of\b|\bcbrt\b"), " cbrt "),
    (  # "2 to the 5th", "8 to the third power"
        ("to the",),
        re.compile(rf"(?<=\d)\s+to\s+the\s+(?:(\d+)(?:st|nd|rd|th)|({_ORDINAL}))(?:\s+power)?\b"),
        lambda m: "^" + (m.group(1) or str(_ORDINALS[m.group(2)])),
    ),
    (
        ("power", "raised"),
        re.compile(r"\bto\s+the\s+(?:power\s+of|power)\b|\braised\s+to(?:\s+the\s+power\s+of)?\b"),
        "^",
    ),
    (("**",), re.compile(r"\*\*"), "^"),
    (("squared",), re.compile(r"\bsquared\b"), "^2"),
    (("cubed",), re.compile(r"\bcubed\b"), "^3"),
    (
        ("multiplied", "times", "×", "x"),
        re.compile(r"\bmultiplied\s+(?:by|with)\b|\btimes\b|×|(?<=\d)\s*x\s*(?=[\d(])"),
        "*",
    ),
    (("divided", "over", "÷"), re.compile(r"\bdivided\s+(?:by|into)\b|\bover\b|÷"), "/"),
    ((" by ",), re.compile(r"(?<=\d)\s+by\s+(?=[\d(])"), "*"),  # "a 13 by 74 room": its size
    (("plus",), re.compile(r"\bplus\b"), "+"),
    (("minus", "less", "take"), re.compile(r"\bminus\b|\bless\b|(?<=\d)\s+take\s+away\b"), "-"),
    (("mod",), re.compile(r"\bmod(?:ulo)?\b"), " mod "),
]
_FUNCTIONS = ("mod", "sqrt", "cbrt", "avg", "fact")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|[-+*/^(),]|[a-z']+", re.IGNORECASE)
_FUNCS: dict[str, Callable[[list[float]], float]] = {
    "sqrt": lambda a: _sqrt(a[0]),
    "cbrt": lambda a: math.copysign(abs(a[0]) ** (1 / 3), a[0]),
    "avg": lambda a: sum(a) / len(a),
    "fact": lambda a: _factorial(a[0]),
}
_BINARY = frozenset({"+", "-", "*", "/", "^"})
_PERCENT_SYMBOLS = "/ 100 )"  # a percentage's 100 in the symbols: "30%" is ( 30 / 100 )
_OPERATORS = frozenset({*_BINARY, *_FUNCTIONS})
# Words a request may carry around a calculation without changing it: with only
# these left over, the calculator is certain the request is a calculation.
_FILLER = frozenset(
    ["a", "an", "the", "of", "is", "it", "it's", "its", "what", "what's", "whats", "how", "much",
     "many", "do", "does", "did", "you", "your", "can", "could", "would", "will", "please",
     "calculate", "compute", "work", "figure", "out", "tell", "me", "i", "i'm", "need", "want",
     "to", "know", "get", "if", "we", "when", "equal", "equals", "be", "answer", "result",
     "value", "give", "show", "find", "quick", "question", "hey", "ok", "okay", "so", "and",
     "then", "now", "as", "decimal", "number", "exactly", "us", "for", "let's", "lets", "see",
     "solve", "solution", "dollars", "dollar", "bucks", "euros", "euro", "cents", "pounds",
     "sterling", "that", "this", "just", "fast", "real", "really", "simple", "math", "sum",
     "total", "come", "up", "with", "are", "was", "got", "something", "provide", "determine",
     "evaluate"]
)  # fmt: skip
_MATH_WORDS = frozenset(
    ["math", "maths", "calculate", "calculator", "calculation", "calculations", "compute",
     "computation", "arithmetic", "sum", "average", "plus", "minus", "times", "multiply",
     "multiplied", "multiplication", "divide", "divided", "division", "subtract", "subtraction",
     "subract", "substract", "subtact",
     "percent", "percentage", "square", "root", "squared", "cubed", "factorial", "algebra",
     "equation", "solve", "log", "logarithm", "antilog", "sine", "cosine", "tangent", "sin",
     "cos", "tan", "derivative", "integral", "factor", "divisible", "split", "area", "perimeter"]
)  # fmt: skip
# Maths to learn, not to work out: the calculator does not tutor.
_LEARNING_WORDS = frozenset(
    ["homework", "riddle", "riddles", "quiz", "teach", "explain", "learn", "learning", "tutor",
     "lesson", "lessons", "class", "exam", "exams", "test", "formula", "tables", "puzzle",
     "puzzles", "game", "games", "app", "apps", "worksheet", "teacher"]
)  # fmt: skip
# Words and symbols without which no text is a calculation (the claim's cheap gate).
_OPERATION_WORDS = frozenset(
    ["plus", "minus", "times", "over", "divided", "divide", "multiplied", "multiply", "by",
     "percent", "percentage", "squared", "cubed", "root", "sqrt", "cbrt", "power", "raised",
     "sum", "average", "mean", "add", "added", "together", "subtract", "subract", "substract",
     "subtact", "take", "half", "halves", "double", "twice",
     "triple", "thrice", "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth",
     "fifths", "sixth", "sixths", "eighth", "eighths", "tenth", "tenths", "mod", "modulo",
     "factorial", "less", "increase", "decrease", "reduce", "raise", "lower", "cut", "discount",
     "tip", "off", "x", "go", "into", "split", "total", "product", "quotient", "difference",
     "second", "seventh", "ninth", "st", "nd", "rd", "th", "dozen"]
)  # fmt: skip
_NUMBER_WORDS = frozenset([*ONES, *TENS, *SCALES, "dozen"])
_DOZENS = re.compile(r"\d\s+dozen\b")  # "3 dozen" (3*12), not "a dozen" (12: no operation)
_SYMBOL = re.compile(r"[-+*/^%×÷]")
# A clock time among the numbers ("at 9 pm", "at 10:30", "at 7 o'clock"): a time to do
# something, never a calculation's operand.
_CLOCK_WORDS = frozenset(["am", "pm", "a.m", "p.m", "o'clock", "noon", "midnight"])
_CLOCK_TIME = re.compile(
    r"\d\s*(?:am|pm|a\.m|p\.m)\b|\d:\d\d\b|o'clock\b|\b(?:at|by|until|till|before|after)\s+"
    r"(?:noon|midnight)\b"
)
_BARE_BY = re.compile(r"\d\s+by\s+[\d(]")
# A letter left among the operands after the rewrites ("9 x 9" is a product by then): an
# unknown, so algebra.
_VARIABLES = frozenset(["x", "y", "z", "n"])
# Geometry left unread: formulas to know, the LLM's (a rectangle's area is read).
_GEOMETRY = frozenset(
    ["area", "volume", "perimeter", "circumference", "radius", "diameter", "hypotenuse"]
)
_WHICH_IS_MORE = re.compile(r"\b(?:bigger|smaller|larger|greater|higher|lower|more|less)\b")
# A result to check ("is 7 times 8 really 56", "does 3 plus 4 equal 7"): a comparison too.
_CHECK = re.compile(
    r"^(?:is|isn't|does|doesn't|do|are)\b.*\b(?:really|actually|truly|equals?|equal\s+to|"
    r"same\s+as)\b"
)
_BY_VERB = re.compile(r"\b(?:divide|multiply|increase|decrease|reduce|raise|lower|cut|discount)\b")


# "Square" is maths in "the square root of" or "the square of", not in an area ("how many
# square feet is my apartment") or a place ("Times Square").
_SQUARE_MATHS = re.compile(r"\bsquare\s+(?:root|of)\b")
# A how-to question with numbers no operation joins ("how do I divide a pizza into 8
# slices"): a way of doing something, not a calculation.
_HOW_TO = re.compile(
    r"^\W*(?:(?:hey|ok|okay|so|and|but|um)\W+)*how\s+(?:do|can|could|should|would)\s+"
    r"(?:i|you|we|one)\b|^\W*how\s+to\b"
)


def _nothing_to_work_out(t: str, words_in: frozenset[str]) -> bool:
    """No calculation to do: no maths words, or maths to learn (homework, a quiz, a formula)."""
    if "square" in words_in and not _SQUARE_MATHS.search(t):
        words_in = words_in - {"square"}
    return words_in.isdisjoint(_MATH_WORDS) or not words_in.isdisjoint(_LEARNING_WORDS)


def claim(text: str) -> float:
    """How surely the calculator reads ``text`` (the agent stage's claim, see ``agent_stage``).

    ``CERTAIN`` when the whole request is one calculation the parser finishes,
    with nothing left over but filler words ("what's nine times seven");
    ``POSSIBLE`` when it finishes one among other words, reads a bare "13 by
    74", or the request only talks about maths ("help me with a math
    problem": the agent asks what to calculate); ``CANNOT`` otherwise, e.g.
    numbers that form no calculation ("book a table for 4 at 8"), an
    operation left hanging in words ("10 times better than before"), maths
    to learn rather than to work out ("help me with my algebra homework"),
    numbers no operation joins ("play one two three four by Feist", or in a
    how-to question: "how do I divide a pizza into 8 slices"), an area's
    "square" ("how many square feet is my apartment"), a clock time among the
    numbers ("set the lights to 10 percent at 11 pm": a time, no operand),
    symbols inside a name with no maths word in the request ("a 50/50
    raffle", "20/20 vision", "8 x 10 photo prints"), algebra and comparisons
    it cannot work out ("solve x plus 3 equals 7", "what's bigger 3/4 or
    2/3": the LLM's, rather than a question back), and what
    no built-in agent takes (``not_a_command``): writing about a subject, a
    question about words ("what does 24 7 mean"), a question for a reason or a
    person ("why can't you divide by zero") or settings.
    """
    t, words_in, digits = words(text)
    if not digits and words_in.isdisjoint(_NUMBER_WORDS):
        if (
            _nothing_to_work_out(t, words_in)
            or not_a_command(t, words_in)
            or not _VARIABLES.isdisjoint(words_in)  # "the derivative of x squared": algebra
        ):
            return CANNOT  # the cheap gate first: most requests stop here
        return POSSIBLE
    if not_a_command(t, words_in) or (
        (":" in t or not words_in.isdisjoint(_CLOCK_WORDS)) and _CLOCK_TIME.search(t)
    ):
        return CANNOT  # a clock time is no operand: "set the lights to 10 percent at 11 pm"
    if words_in.isdisjoint(_OPERATION_WORDS) and not _SYMBOL.search(t):
        # numbers and no operation: "book a table for 4 at 8" (but "126 divisible by 8" is
        # maths), or a formula to know ("the area of a circle with radius 3")
        return (
            CANNOT
            if _nothing_to_work_out(t, words_in) or not _GEOMETRY.isdisjoint(words_in)
            else POSSIBLE
        )
    tokens, unknown = read(t)
    if not _GEOMETRY.isdisjoint(unknown):
        return CANNOT  # geometry left unread: "the area of a circle with radius 3"
    numbers = sum(1 for tok in tokens if tok[0].isdigit() or tok[0] == ".")
    if not numbers:
        return CANNOT if _nothing_to_work_out(t, words_in) else POSSIBLE
    if tokens[-1] in _BINARY and unknown:
        return CANNOT  # an operation left hanging in words: "20 times better than this"
    if not any(tok in _OPERATORS for tok in tokens):
        # numbers its words never join into an operation ("play one two three four by
        # Feist", "how do I divide a pizza into 8 slices"): no calculation, unless maths
        # words say otherwise outside a how-to question
        return (
            CANNOT
            if _nothing_to_work_out(t, words_in) or ("how" in words_in and _HOW_TO.match(t))
            else POSSIBLE
        )
    if (
        not _VARIABLES.isdisjoint(unknown)
        or (" or " in t and _WHICH_IS_MORE.search(t))
        or _CHECK.match(t)
    ):
        # algebra ("solve x plus 3 equals 7", "the derivative of x squared"), a comparison
        # ("what's bigger 3/4 or 2/3") or a result to check ("is 7 times 8 really 56"):
        # maths, but none it can work out; the LLM's
        return CANNOT
    try:
        _Parser(tokens).parse()
    except CalculationError:  # other maths it cannot finish ("1 million twelve hundred
        return POSSIBLE  # divided by 400 thousand") is still maths: the intent router decides
    if (
        unknown
        and not _MATH_WORDS.issuperset(unknown)
        and numbers - " ".join(tokens).count(_PERCENT_SYMBOLS) < 2
        and not any(tok in _FUNCTIONS for tok in tokens)
    ):
        return CANNOT  # one number among words that are not maths: "dim the lights to 30%"
    if unknown and words_in.isdisjoint(_MATH_WORDS) and not _MATH_WORDS.issuperset(unknown):
        # symbols inside a name, no maths word anywhere: "a 50/50 raffle", "20/20 vision", "8 x
        # 10 photo prints", "the score was 21-14"
        return CANNOT
    if numbers < 2 and not any(tok in _FUNCTIONS for tok in tokens):
        return POSSIBLE
    if unknown or (
        _BARE_BY.search(words_to_numbers(t)) and not _BY_VERB.search(t) and "area" not in words_in
    ):
        return POSSIBLE
    if "dozen" in words_in and sum(tok in _BINARY for tok in tokens) <= len(
        _DOZENS.findall(words_to_numbers(t))
    ):
        return POSSIBLE  # only a dozen's times twelve: "what is 3 dozen" may count things
    return CERTAIN


_REFERENCES = re.compile(r"\b(?:that|it|the\s+result|the\s+answer|this)\b")
# A result asked for as a percentage is shown with its sign: "3/4 as a percentage = 75%".
_ASKED_PERCENT = re.compile(
    r"\b(?:as|in|into|to)\s+(?:an?\s+)?(?:%|percent(?:age)?)|\bwhat\s*(?:%|percent(?:age)?)",
    re.IGNORECASE,
)
_NEEDS_PROMPT = "What should I calculate? For example: 15% of 80, 2^10, or the square root of 81."


class CalculationError(ValueError):
    """The text holds numbers but no calculation the parser can finish."""


def _sqrt(x: float) -> float:
    if x < 0:
        raise CalculationError("the square root of a negative number is not a real number")
    return math.sqrt(x)


def _factorial(x: float) -> float:
    if x != int(x) or x < 0:
        raise CalculationError("a factorial needs a whole number of 0 or more")
    if x > _MAX_FACTORIAL:
        raise CalculationError("the result is too large")
    return float(math.factorial(int(x)))


def normalize(text: str, previous: float | None = None) -> str:
    """The text rewritten into symbols (still with filler words).

    ``previous`` replaces references to the last result ("that", "it").
    """
    t = text.lower().replace("’", "'")
    if previous is not None:
        t = _REFERENCES.sub(f" {format_number(previous)} ", t)
    t = words_to_numbers(t)
    t = without_thousands_separators(t)
    t = t.replace("$", " ").replace("€", " ").replace("£", " ")
    if "-" in t:
        t = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " - ", t)
        t = re.sub(r"\s+-(?=\d)", " -", t)
    for keys, pattern, repl in _REWRITES:
        # ``holds_any`` written out: a call a rewrite cost 3 us of a 16 us normalize
        for key in keys:
            if key in t:
                t = pattern.sub(repl, t)
                break
    return t


def read(text: str, previous: float | None = None) -> tuple[list[str], list[str]]:
    """The symbols of the calculation in ``text`` and the words it left over (not filler)."""
    return _symbols(normalize(text, previous))


def _symbols(expression: str) -> tuple[list[str], list[str]]:
    """Symbols, and the unknown words dropped. A clause set off by a comma that holds no
    operator ("quick one, what's 8 times 9", "what's 2 + 2, please") is dropped too."""
    clauses: list[list[str]] = [[]]
    words: list[list[str]] = [[]]
    depth = 0
    for tok in _TOKEN.findall(expression):
        if tok[0].isalpha() and tok not in _FUNCTIONS:
            if tok not in _FILLER:
                words[-1].append(tok)
            continue
        if tok == "," and depth == 0:
            clauses.append([])
            words.append([])
            continue
        depth += {"(": 1, ")": -1}.get(tok, 0)
        clauses[-1].append(tok)
    if len(clauses) > 1:
        keep = [i for i, c in enumerate(clauses) if any(t in _OPERATORS for t in c)] or [
            i for i, c in enumerate(clauses) if c
        ]
        if len(keep) == 1:
            return clauses[keep[0]], words[keep[0]]
    return [t for c in clauses for t in c], [w for ws in words for w in ws]


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|mod) unary)*;
    unary := '-' unary | power; power := atom ('^' unary)?;
    atom := number | '(' expr ')' | func '(' expr (',' expr)* ')' | func unary
    """

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

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
        """Every nested part passes here, so the nesting is bounded here."""
        if self.depth >= _MAX_NESTING:
            raise CalculationError(f"it nests more than {_MAX_NESTING} levels deep")
        self.depth += 1
        try:
            if self.peek() == "-":
                self.take()
                return -self.unary()
            if self.peek() == "+":
                self.take()
                return self.unary()
            return self.power()
        finally:
            self.depth -= 1

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
    tokens, _ = read(text, previous)
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
    claim = staticmethod(claim)

    def __init__(self, name: str = "calculator", **_: Any):
        self.name = name

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        previous = turn.slots.get("result")
        previous = float(previous) if isinstance(previous, (int, float)) else None
        text = turn.request
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
        if _ASKED_PERCENT.search(text):
            result += "%"
        return AgentReply(
            reply=f"{shown} = {result}",
            state="done",
            slots={"result": value, "expression": expression},
            data={"expression": expression, "result": value},
        )
