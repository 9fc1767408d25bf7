from __future__ import annotations

import pytest
from agent_turns import turn

from edge_moma.agents.base import CANNOT, CERTAIN, POSSIBLE
from edge_moma.targets.agents.calculator import CalculationError, CalculatorAgent, claim, evaluate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is 300 divided by 42", 300 / 42),
        ("what is 400 times 2", 800),
        ("what is the average of 54, 23, 43, 12, and 442", 114.8),
        ("add 45 to 87 plus 54 plus 43 plus 22", 251),
        ("what is 48 multiplied by 4 divided by 2", 96),
        ("what is 25% of $54,788", 13697),
        ("what's 15% of 80", 12),
        ("what's 15 percent of 68", 10.2),
        ("if something is 15% off $35, how much is it", 29.75),
        ("what is the square root of 36", 6),
        ("what is 1100 minus 2347", -1247),
        ("what is the sum of eleven and ten", 21),
        ("what is the solution to sixty times thirty", 1800),
        ("one hundred and five plus 5", 110),
        ("divide 100 by 4", 25),
        ("subtract 3 from 10", 7),
        ("2^10", 1024),
        ("2 ** 3 ** 2", 512),  # right-associative
        ("2 to the power of 8", 256),
        ("5 squared", 25),
        ("3 cubed", 27),
        ("-3 + 4 * 2", 5),
        ("-2^2", -4),
        ("(1 + 2) * 3", 9),
        ("what is 7 - 2", 5),
        ("100 mod 7", 2),
        ("cube root of 27", 3),
        ("sqrt(16) + 1", 5),
    ],
)
def test_evaluates_everyday_phrasing(text: str, expected: float) -> None:
    assert evaluate(text)[1] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10 / 0", "division by zero"),
        ("what is the square root of -4", "negative"),
        ("2^100000", "too large"),
        ("i bought 6 shirts at $499 each what was my total", "cannot read"),
        ("(1 + 2", "missing"),
        ("__import__('os').system('ls')", "expected a number"),
        ("what is the meaning of life", "no calculation"),
    ],
)
def test_refuses_what_it_cannot_compute(text: str, why: str) -> None:
    with pytest.raises(CalculationError, match=why):
        evaluate(text)


@pytest.mark.parametrize("text", ["(" * 100_000 + "1", "2**" * 5_000 + "2", "-" * 5_000 + "1"])
def test_deep_nesting_is_refused_not_recursed(text: str) -> None:
    """A pinned calculator once raised RecursionError on these (a 500 in the daemon)."""
    with pytest.raises(CalculationError, match="nests more than 64 levels"):
        evaluate(text)
    assert claim(text) in (CANNOT, POSSIBLE)
    reply = CalculatorAgent().handle(turn(text, "calculator"))
    assert reply.state == "done" and "nests more than" in reply.reply
    assert evaluate("(" * 60 + "1 + 2" + ")" * 60)[1] == 3  # deep but within the bound


def test_follow_up_continues_from_the_last_result() -> None:
    agent = CalculatorAgent()
    first = agent.handle(turn("what's 15% of 80", "calculator"))
    assert (first.reply, first.state, first.data["result"]) == ("15% of 80 = 12", "done", 12)
    assert agent.handle(turn("times 4", "", first.slots)).reply == "12 * 4 = 48"
    assert agent.handle(turn("and divide that by 2", "", first.slots)).data["result"] == 6


def test_replies_clearly_to_bad_input() -> None:
    agent = CalculatorAgent()
    ask = agent.handle(turn("can you help me with math", "calculator"))
    assert ask.state == "need_input" and "What should I calculate" in ask.reply
    bad = agent.handle(turn("what is 5 divided by 0", "calculator"))
    assert bad.state == "done" and "division by zero" in bad.reply and "error" in bad.data
    assert agent.handle(turn("never mind", "cancel")).data == {"cancelled": True}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is 100 multiplied by 55", CERTAIN),
        ("divide 100 by 12", CERTAIN),
        ("find the square root of 1243435", CERTAIN),
        ("what is 2+2", CERTAIN),
        ("nine times seven", CERTAIN),
        ("quick one, what's eight times nine", CERTAIN),
        ("if something is 15% off $35, how much is it", CERTAIN),
        ("how many square feet is a 13 by 74 room", POSSIBLE),  # bare "by": ambiguous
        ("why is zero times anything zero", CANNOT),  # a question for a reason
        ("how many square feet is my apartment", CANNOT),  # an area, not "the square of"
        ("what's the square footage of a tennis court", CANNOT),
        ("what is the square of twelve", POSSIBLE),
        ("can you tell me the square root of pi", POSSIBLE),
        ("how do I divide a pizza into 8 equal slices", CANNOT),  # a how-to, one number
        ("how can I split 3 pizzas between friends", CANNOT),
        ("how do I calculate 15 percent of 80", CERTAIN),  # a how-to that is a calculation
        ("how do you multiply 12 by 12", CERTAIN),
        ("how to solve this math problem", POSSIBLE),  # it asks what to calculate
        ("set the bedroom lights to 10 percent at 11 pm", CANNOT),  # a clock time: no operand
        ("turn the lights to 40 percent at 9 pm", CANNOT),
        ("dim the hall to 30% at 10:30", CANNOT),
        ("split the bill 3 ways at 7 o'clock", CANNOT),
        ("what's a 50/50 raffle", CANNOT),  # symbols inside a name, no maths word
        ("what's 20/20 vision", CANNOT),
        ("show me 8 x 10 photo prints", CANNOT),
        ("the score was 21-14", CANNOT),
        ("play 4 x 4 by Miley", CANNOT),
        ("what is the area of a 20 x 20 room", CERTAIN),  # length times width
        ("area of a circle with radius 3", CANNOT),  # a formula to know: the LLM's
        ("what is 1 plus 1 in binary", POSSIBLE),  # a maths word: the router decides
        ("what's 12 x 12", CERTAIN),
        ("can you help me with a math problem", POSSIBLE),  # it asks what to calculate
        ("set the lights to 50 percent", CANNOT),  # one number among words: a command
        ("set a timer for 5 minutes", CANNOT),
        ("book a table for 4 at 8", CANNOT),
        ("call 555 0199", CANNOT),
        ("what's the population of tokyo", CANNOT),
        ("tell me a joke", CANNOT),
        ("add up fifteen, twenty and thirty five", CERTAIN),
        ("what is 45 as a percent of 180", CERTAIN),
        ("help me with my algebra homework", CANNOT),  # maths to learn, not to work out
        ("give me a math riddle", CANNOT),
        ("this is 10 times better than before", CANNOT),  # an operation left hanging
        ("tell me a joke about 7 times 8", CANNOT),  # writing about a subject
        ("what's the product of 6 and 7", CERTAIN),
        ("what is the difference between 50 and 20", CERTAIN),
        ("what's 2 to the 5th", CERTAIN),
        ("what is 100 take away 25", CERTAIN),
        ("what's 4 into 20", CERTAIN),
        ("split 90 three ways", CERTAIN),
        ("play one two three four by Feist", CANNOT),  # numbers no operation joins
        ("what does 24 7 mean", CANNOT),  # a question about words
        ("who was the 16th president", CANNOT),
        ("what's the difference between mean and median", CANNOT),  # no numbers: no sum
        ("split the bill with Sam", POSSIBLE),  # maths words, no numbers: it asks
        ("please provide the square root of 36", CERTAIN),
        # algebra and comparisons: maths it cannot work out, the LLM's
        ("solve x plus 3 equals 7", CANNOT),
        ("what's the derivative of x squared", CANNOT),
        ("can you factor x squared plus 4 x plus 4", CANNOT),
        ("what's bigger 3/4 or 2/3", CANNOT),
        ("is 7 times 8 really 56", CANNOT),  # a result to check: a comparison too
        ("does 3 plus 4 equal 7", CANNOT),
        ("convert 1/4 to a decimal", CERTAIN),  # a fraction's value
        ("what's 3/4 as a percentage", CERTAIN),
        ("what is 9x9", CERTAIN),  # an x between numbers is a product
    ],
)
def test_claim_says_how_surely_it_reads_a_calculation(text: str, expected: float) -> None:
    assert claim(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nine times seven", 63),
        ("what's seven over two", 3.5),
        ("thirty percent of two hundred and forty", 72),
        ("a hundred and five minus thirty eight", 67),
        ("one point five times four", 6),
        ("what do you get when you add sixty and forty two", 102),
        ("two thousand and twenty minus nineteen eighty five", 35),
        ("what percent of 80 is 20", 25),
        ("30 is what percent of 120", 25),
        ("increase 50 by 10 percent", 55),
        ("reduce 60 by 10 percent", 54),
        ("what's 250 plus 8 percent", 270),
        ("a 15 percent tip on 60 dollars", 9),
        ("take 8 away from 30", 22),
        ("half of seven hundred", 350),
        ("what is three quarters of one sixth", 0.125),
        ("double 45", 90),
        ("what is 10 to the 12th power", 1e12),
        ("how many times does 8 go into 2000", 250),
        ("8 factorial", 40320),
        ("add up fifteen, twenty and thirty five", 70),
        ("can you subract 36 from 5", -31),  # as people type it
        ("what is 45 as a percent of 180", 25),
        ("what is 3 million plus 5", 3_000_005),
        ("quick one, what's eight times nine", 72),
        ("negative five times three", -15),
        ("how many square feet is a 13 by 74 room", 962),
        ("what's the total of 4 5 and 6", 15),
        ("what's the product of six and seven", 42),
        ("what's the quotient of 50 and 5", 10),
        ("what is the difference between fifty and twenty", 30),
        ("what's 2 to the 5th", 32),
        ("what's eight to the third power", 512),
        ("what is 100 take away 25", 75),
        ("what's 4 into 20", 5),
        ("split 90 three ways", 30),
        ("split 120 into 4 equal parts", 30),
        ("what do 3 and 4 add up to", 7),
        ("what's 14 add 9", 23),
        ("what's the remainder of 17 divided by 5", 2),  # not 3.4
        ("what is the remainder when seventeen is divided by five", 2),
        ("add 15 percent to 80", 92),
        ("what's 8 percent tax on 45 dollars", 3.6),  # the tax, as a tip is the tip
        ("what's 18 out of 24 as a percentage", 75),
        ("what's the square of 12", 144),  # not 12
        ("what's the cube of 3", 27),
        ("convert 1/4 to a decimal", 0.25),
        ("3/8 in decimal", 0.375),
        ("what's 3/4 as a percentage", 75),  # not 0.75
        ("0.2 as a percent", 20),
        ("what is the area of a 10 by 12 room", 120),
        ("what is the area of a 12 ft by 10 ft room", 120),
    ],
)
def test_answers_spoken_phrasings(text: str, expected: float) -> None:
    reply = CalculatorAgent().handle(turn(text, ""))
    assert reply.data["result"] == pytest.approx(expected), reply.reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add 8 and 15 together", 23),
        ("can you add 2, 3 and 4 together", 9),
        ("add together 40 and 2", 42),
        ("what is 9 and 11 added together", 20),
        ("what do you get with 6, 7 and 8 added together", 21),
        ("multiply 4 and 5 together", 20),
        ("multiply together six and seven", 42),
        ("what's 3 and 12 multiplied together", 36),
    ],
)
def test_numbers_added_or_multiplied_together_are_a_certain_calculation(
    text: str, expected: float
) -> None:
    assert claim(text) == CERTAIN
    reply = CalculatorAgent().handle(turn(text, ""))
    assert reply.data["result"] == pytest.approx(expected), reply.reply


@pytest.mark.parametrize(
    "text",
    [
        "mix 2 cups of flour and 3 eggs together",  # a recipe step: no operation
        "put 3 and 4 year olds together in one class",
        "add 2 and 2 together and you get 4 in the song",  # words beyond the sum
    ],
)
def test_together_outside_a_calculation_is_not_certain(text: str) -> None:
    assert claim(text) < CERTAIN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how much is 5 dozen", 60),
        ("what is 3 dozen", 36),
        ("how many is two dozen", 24),
        ("what's half a dozen times 4", 24),
        ("how much is a dozen times 7", 84),
        ("what is 4 dozen plus 6", 54),
        ("what's 6 dozen divided by 8", 9),
        ("what's two dozen minus five", 19),
        ("what is one and a half dozen", 18),
    ],
)
def test_a_dozen_is_twelve_in_a_calculation(text: str, expected: float) -> None:
    assert claim(text) >= POSSIBLE
    assert CalculatorAgent().handle(turn(text)).data["result"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a dozen that is the only operation may be a count of things: the router decides
        ("how much is 5 dozen", POSSIBLE),
        ("what is 4 dozen plus 6", CERTAIN),
        ("what is a dozen divided by 4", CERTAIN),  # "a dozen" is a number, the division maths
        ("what's a dozen plus a dozen", CERTAIN),
        # a dozen of something, no calculation
        ("how much does a dozen eggs cost", CANNOT),
        ("how many players in a dozen teams", CANNOT),
        ("order 2 dozen bagels", CANNOT),
        ("where can i buy a dozen donuts", CANNOT),
        ("how many dozen roses should i buy", CANNOT),
    ],
)
def test_claim_reads_dozens(text: str, expected: float) -> None:
    assert claim(text) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("what's 3/4 as a percentage", "3/4 as a percentage = 75%"),
        ("20 is what percent of 80", "20 is what percent of 80 = 25%"),
        ("what is 20% of 50", "20% of 50 = 10"),  # a percentage's amount: no sign
    ],
)
def test_a_result_asked_as_a_percentage_shows_its_sign(text: str, shown: str) -> None:
    assert CalculatorAgent().handle(turn(text, "")).reply == shown
