from __future__ import annotations

import pytest
from agent_turns import turn

from edge_moma.agents.base import CANNOT, CERTAIN, POSSIBLE
from edge_moma.targets.agents.units import ConversionError, UnitsAgent, claim, convert, parse


@pytest.mark.parametrize(
    ("text", "value", "source", "target"),
    [
        ("how many pounds are in 10 kilos", 10, "kilogram", "pound"),
        ("convert 5 km to miles", 5, "kilometer", "mile"),
        ("how many teaspoons is one tablespoon", 1, "tablespoon", "teaspoon"),
        ("i need the conversion between a cup and a tablespoon", 1, "cup", "tablespoon"),
        ("how do you convert kilos to pounds", None, "kilogram", "pound"),
        ("70 f in c", 70, "fahrenheit", "celsius"),
        ("what is 100 degrees fahrenheit in celsius", 100, "fahrenheit", "celsius"),
        ("60 mph in km/h", 60, "mile per hour", "kilometer per hour"),
        ("3 feet in cm", 3, "foot", "centimeter"),
        ("how many ounces are in a cup", 1, "cup", "fluid ounce"),
        ("how many ounces are in 4 pounds", 4, "pound", "ounce"),
        ("10 in in cm", 10, "inch", "centimeter"),
        ("convert 2,000 meters to yards", 2000, "meter", "yard"),
    ],
)
def test_parses_value_and_units(text: str, value: float | None, source: str, target: str) -> None:
    req = parse(text)
    assert (req.value, req.source, req.target) == (value, source, target)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (10, "kilogram", "pound", 22.0462262),
        (1, "mile", "kilometer", 1.609344),
        (1, "gallon", "liter", 3.785411784),
        (100, "celsius", "fahrenheit", 212),
        (32, "fahrenheit", "celsius", 0),
        (0, "celsius", "kelvin", 273.15),
        (-40, "fahrenheit", "celsius", -40),
        (36, "kilometer per hour", "meter per second", 10),
        (1, "knot", "kilometer per hour", 1.852),
    ],
)
def test_converts(value: float, source: str, target: str, expected: float) -> None:
    assert convert(value, source, target) == pytest.approx(expected, rel=1e-6)


def test_incompatible_units_are_a_clear_error() -> None:
    with pytest.raises(ConversionError, match="mass.*volume"):
        convert(1, "kilogram", "liter")
    reply = UnitsAgent().handle(turn("10 kg to liters", "measurement_conversion"))
    assert "cannot be converted" in reply.reply and reply.data["error"]


def test_missing_units_ask_for_them() -> None:
    reply = UnitsAgent().handle(turn("where can i find measurement conversions", "x"))
    assert reply.state == "need_input" and "for example" in reply.reply


def test_follow_ups_reuse_the_last_conversion() -> None:
    agent = UnitsAgent()
    first = agent.handle(turn("70 f in c", "measurement_conversion"))
    assert first.reply == "70 fahrenheit = 21.1111 celsius"
    assert agent.handle(turn("and in kelvin?", "", first.slots)).data["result"] == pytest.approx(
        294.261111
    )
    assert agent.handle(turn("what about 212?", "", first.slots)).data["result"] == 100


@pytest.mark.parametrize(
    ("text", "expected", "unit"),
    [
        ("20 C to F", 68, "fahrenheit"),
        ("how many ounces in a cup", 8, "fluid ounce"),
        ("how many tablespoons in half a cup", 8, "tablespoon"),
        ("what's minus 40 celsius in fahrenheit", -40, "fahrenheit"),
        ("what's 10 below zero celsius in fahrenheit", 14, "fahrenheit"),
        ("two and a half pounds in kilos", 1.133981, "kilogram"),
        ("how many weeks are in 3 months", 13.044375, "week"),  # mean Gregorian months
        ("how many minutes in an hour", 60, "minute"),
        ("ten kilometers is how many miles", 6.213712, "mile"),
        ("I weigh 11 stone, what's that in kilos", 69.853225, "kilogram"),
        ("give me pounds to kilograms", 0.45359237, "kilogram"),  # the rate
        ("how many square feet in an acre", 43560, "square foot"),
        ("how many acres are in a hectare", 2.4710538, "acre"),
        ("how many sq ft is 50 m2", 538.1955208, "square foot"),
        ("what's 6 foot 2 in cm", 187.96, "centimeter"),  # feet and inches, one length
        ("convert 5 ft 10 in to cm", 177.8, "centimeter"),
        ("five feet and three inches in meters", 1.6002, "meter"),
        ("10 feet 2 meters", 3.048, "meter"),  # a length in meters is no inches
        ("what's 5k in miles", 3.106856, "mile"),  # a race's "k" beside a length: kilometres
        ("how many miles is a 10k", 6.213712, "mile"),
        ("300 k in celsius", 26.85, "celsius"),  # beside a temperature: kelvin
    ],
)
def test_answers_spoken_phrasings(text: str, expected: float, unit: str) -> None:
    reply = UnitsAgent().handle(turn(text, ""))
    assert reply.data["target"] == unit
    assert reply.data["result"] == pytest.approx(expected, rel=1e-6), reply.reply


@pytest.mark.parametrize(
    ("text", "expected", "unit"),
    [
        ("how many pounds are in a ton", 2000, "pound"),  # a ton: the US (short) ton
        ("convert 3 tons to pounds", 6000, "pound"),
        ("how many kilograms is half a ton", 453.59237, "kilogram"),
        ("what's 2 short tons in kilos", 1814.36948, "kilogram"),
        ("how many pounds in a long ton", 2240, "pound"),
        ("how many kilograms in a metric ton", 1000, "kilogram"),
        ("5 tonnes in tons", 5.5115566, "ton"),
        # kilo-, mega-, giga- and terabytes are decimal (SI); the binary sizes have their
        # own names (kibibyte, mebibyte, gibibyte)
        ("how many bytes in a kilobyte", 1000, "byte"),
        ("how many megabytes in a gigabyte", 1000, "megabyte"),
        ("convert 5 gigabytes to megabytes", 5000, "megabyte"),
        ("how many kilobytes are in 3 megabytes", 3000, "kilobyte"),
        ("what is 500 megabytes in gigabytes", 0.5, "gigabyte"),
        ("convert 2 tb to gb", 2000, "gigabyte"),
        ("how many bits in a byte", 8, "bit"),
        ("how many bits are in 4 bytes", 32, "bit"),
        ("how many kilobits in a megabit", 1000, "kilobit"),
        ("how many mebibytes in a gibibyte", 1024, "mebibyte"),
        ("how many bytes in 2 kibibytes", 2048, "byte"),
        ("how many kilobytes is a mebibyte", 1048.576, "kilobyte"),
    ],
)
def test_tons_and_data_sizes_convert(text: str, expected: float, unit: str) -> None:
    assert claim(text) == CERTAIN
    reply = UnitsAgent().handle(turn(text, ""))
    assert reply.data["target"] == unit
    assert reply.data["result"] == pytest.approx(expected, rel=1e-6), reply.reply


@pytest.mark.parametrize(
    "text",
    ["how many tons does a blue whale weigh", "how much does a ton of gravel cost"],
)
def test_tons_of_a_thing_are_no_conversion(text: str) -> None:
    assert claim(text) < CERTAIN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20 C to F", CERTAIN),
        ("how many ounces in a cup", CERTAIN),
        ("convert kilos to pounds", CERTAIN),
        ("convert 100 square meters to square feet", CERTAIN),
        ("how many square meters did the vacuum clean today", CANNOT),  # a fact, one unit
        ("what is 2 hectares in meters", CANNOT),  # an area is no length
        ("convert 10 kilos", POSSIBLE),  # the agent asks into what
        ("what day of the week is it", POSSIBLE),  # two units, no conversion asked
        ("how many grams in a cup", CANNOT),  # mass and volume
        ("how much is 100 pounds in dollars", CANNOT),  # money
        ("set the oven to 350 F", CANNOT),  # a device set to a value
        ("convert this recipe to metric", CANNOT),  # a thing, no unit
        ("convert my measurements to metric", POSSIBLE),  # the agent asks for them
        ("how many grams of protein in an egg", CANNOT),  # an amount, not a conversion
        ("how many days have i taken off this year", POSSIBLE),
        ("tell me a joke", CANNOT),
        ("60 miles per hour in km per hour", CERTAIN),  # "km per hour", not "km"
        ("how to convert a pdf to word", CANNOT),  # into something that is not a unit
        ("can you do a unit conversion for me", POSSIBLE),
        ("how many kilometers is it to the lake", CANNOT),  # a distance
        ("give me pounds to kilograms", CERTAIN),  # two units joined by "to": the rate
        ("switch the thermostat from celsius to fahrenheit", CANNOT),  # a device command
        ("how high is Ben Nevis in metres", CANNOT),  # a fact in a unit, no amount
        ("how many paces make a kilometre", CANNOT),
        ("write a song about miles and miles of road", CANNOT),  # writing about a subject
        ("20 celcius to farenheit", CERTAIN),  # as people type them
        ("how many days are in a leap year", POSSIBLE),  # a word makes the unit a thing
        ("how many hours are in a school day", POSSIBLE),
        ("how many weeks in a school year", POSSIBLE),
        ("how many days in a year", CERTAIN),
        ("set the thermostat from 68 fahrenheit to 20 celsius", CANNOT),  # an amount each
        ("change the oven from 180 celsius to 350 fahrenheit", CANNOT),
        ("set the pool heater to 28 celsius which is about 82 fahrenheit", CANNOT),
        ("is 100 celsius 212 fahrenheit", POSSIBLE),
        ("change 60 kilometers per hour to miles per hour", CERTAIN),  # joined: a conversion
        ("make 2 cups into ounces", CERTAIN),
        ("convert 68 fahrenheit to celsius", CERTAIN),
        ("how many ounces in a US cup", CERTAIN),  # a unit's own qualifier
        ("how many feet in a nautical mile", CERTAIN),
        ("what is the conversion between tablespoons and cups", CERTAIN),
    ],
)
def test_claim(text: str, expected: float) -> None:
    assert claim(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "how many bytes of memory does my phone have",
        "how many gigabytes of data have i used",
        "how many megabytes is this app",
        "can you turn my lights down just a bit in here",
        "wait a bit and convert it later",
        "talk a little bit slower",
        "how many bytes in a kilogram",
    ],
)
def test_data_sizes_of_a_thing_and_a_bit_are_no_conversion(text: str) -> None:
    assert claim(text) < CERTAIN
