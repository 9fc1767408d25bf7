"""Places people name in time questions, and their IANA time zones.

Two tables: common names that are not IANA city names (countries, US states,
zone names such as "eastern", abbreviations such as "pst", big cities that
share another city's zone such as "san francisco" or "mumbai"), then every
city in the device's time zone database (``zoneinfo.available_timezones()``:
"tokyo" -> Asia/Tokyo, "buenos aires" -> America/Buenos_Aires), built once.
Only the canonical regions count (Africa, America, Asia, Atlantic, Australia,
Europe, Indian, Pacific; no Antarctic stations, no legacy "US/..." keys and
no sub-zones such as "America/North_Dakota/Center"), so common words such as
"center" or "general" are not places.

Example::

    >>> [(p.label, p.zone) for p in find_places("how far ahead is tokyo from paris")]
    [('tokyo', 'Asia/Tokyo'), ('paris', 'Europe/Paris')]
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import NamedTuple

ALIASES: dict[str, str] = {
    # zone names and abbreviations
    "eastern": "America/New_York", "est": "America/New_York", "edt": "America/New_York",
    "central": "America/Chicago", "cst": "America/Chicago", "cdt": "America/Chicago",
    "mountain": "America/Denver", "mst": "America/Denver", "mdt": "America/Denver",
    "pacific": "America/Los_Angeles", "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles",
    "east coast": "America/New_York", "west coast": "America/Los_Angeles",
    "hst": "Pacific/Honolulu", "akst": "America/Anchorage", "gmt": "Etc/GMT",
    "greenwich": "Etc/GMT", "utc": "UTC", "zulu": "UTC", "bst": "Europe/London",
    "cet": "Europe/Paris", "cest": "Europe/Paris", "eet": "Europe/Athens", "ist": "Asia/Kolkata",
    "jst": "Asia/Tokyo", "kst": "Asia/Seoul", "aest": "Australia/Sydney",
    "aedt": "Australia/Sydney", "nzst": "Pacific/Auckland",
    # United States: states and cities without a zone of their own
    "new york": "America/New_York", "nyc": "America/New_York", "new york city": "America/New_York",
    "manhattan": "America/New_York", "brooklyn": "America/New_York", "boston": "America/New_York",
    "miami": "America/New_York", "atlanta": "America/New_York", "washington": "America/New_York",
    "washington dc": "America/New_York", "dc": "America/New_York",
    "philadelphia": "America/New_York", "baltimore": "America/New_York",
    "pittsburgh": "America/New_York", "orlando": "America/New_York", "tampa": "America/New_York",
    "charlotte": "America/New_York", "jacksonville": "America/New_York",
    "hartford": "America/New_York", "providence": "America/New_York",
    "buffalo": "America/New_York", "albany": "America/New_York", "richmond": "America/New_York",
    "cincinnati": "America/New_York", "maine": "America/New_York", "bangor": "America/New_York",
    "michigan": "America/Detroit",
    "carolina": "America/New_York", "indiana": "America/Indiana/Indianapolis",
    "florida": "America/New_York", "massachusetts": "America/New_York",
    "pennsylvania": "America/New_York", "virginia": "America/New_York", "ohio": "America/New_York",
    "cleveland": "America/New_York", "columbus": "America/New_York", "raleigh": "America/New_York",
    "new jersey": "America/New_York", "connecticut": "America/New_York",
    "chicago": "America/Chicago", "illinois": "America/Chicago", "dallas": "America/Chicago",
    "houston": "America/Chicago", "austin": "America/Chicago", "san antonio": "America/Chicago",
    "texas": "America/Chicago", "new orleans": "America/Chicago", "louisiana": "America/Chicago",
    "minneapolis": "America/Chicago", "minnesota": "America/Chicago",
    "nashville": "America/Chicago", "tennessee": "America/Chicago", "memphis": "America/Chicago",
    "kansas city": "America/Chicago", "st louis": "America/Chicago", "missouri": "America/Chicago",
    "wisconsin": "America/Chicago", "milwaukee": "America/Chicago", "oklahoma": "America/Chicago",
    "iowa": "America/Chicago", "alabama": "America/Chicago", "baton rouge": "America/Chicago",
    "omaha": "America/Chicago", "nebraska": "America/Chicago", "arkansas": "America/Chicago",
    "mississippi": "America/Chicago", "tulsa": "America/Chicago", "wichita": "America/Chicago",
    "st paul": "America/Chicago", "denver": "America/Denver", "colorado": "America/Denver",
    "salt lake city": "America/Denver", "utah": "America/Denver", "albuquerque": "America/Denver",
    "new mexico": "America/Denver", "montana": "America/Denver", "arizona": "America/Phoenix",
    "tucson": "America/Phoenix", "los angeles": "America/Los_Angeles", "la": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "sf": "America/Los_Angeles",
    "san diego": "America/Los_Angeles", "san jose": "America/Los_Angeles",
    "sacramento": "America/Los_Angeles", "california": "America/Los_Angeles",
    "silicon valley": "America/Los_Angeles", "las vegas": "America/Los_Angeles",
    "vegas": "America/Los_Angeles", "nevada": "America/Los_Angeles",
    "seattle": "America/Los_Angeles", "portland": "America/Los_Angeles",
    "reno": "America/Los_Angeles", "fresno": "America/Los_Angeles",
    "oakland": "America/Los_Angeles", "spokane": "America/Los_Angeles",
    "el paso": "America/Denver", "idaho": "America/Boise", "oregon": "America/Los_Angeles",
    "hawaii": "Pacific/Honolulu", "alaska": "America/Anchorage", "atlantic": "America/Halifax",
    "newfoundland": "America/St_Johns",
    # the Americas
    "canada": "America/Toronto", "ottawa": "America/Toronto", "quebec": "America/Toronto",
    "montreal": "America/Toronto", "calgary": "America/Edmonton", "alberta": "America/Edmonton",
    "british columbia": "America/Vancouver", "mexico": "America/Mexico_City",
    "guadalajara": "America/Mexico_City", "cuba": "America/Havana", "jamaica": "America/Jamaica",
    "puerto rico": "America/Puerto_Rico", "colombia": "America/Bogota", "peru": "America/Lima",
    "venezuela": "America/Caracas", "chile": "America/Santiago",
    "argentina": "America/Argentina/Buenos_Aires",
    "buenos aires": "America/Argentina/Buenos_Aires", "brazil": "America/Sao_Paulo",
    "rio": "America/Sao_Paulo", "rio de janeiro": "America/Sao_Paulo",
    "brasilia": "America/Sao_Paulo", "uruguay": "America/Montevideo",
    "ecuador": "America/Guayaquil", "quito": "America/Guayaquil", "bolivia": "America/La_Paz",
    "paraguay": "America/Asuncion", "costa rica": "America/Costa_Rica", "panama": "America/Panama",
    # Europe
    "uk": "Europe/London", "britain": "Europe/London", "great britain": "Europe/London",
    "united kingdom": "Europe/London", "england": "Europe/London", "scotland": "Europe/London",
    "wales": "Europe/London", "manchester": "Europe/London", "edinburgh": "Europe/London",
    "glasgow": "Europe/London", "birmingham": "Europe/London", "liverpool": "Europe/London",
    "ireland": "Europe/Dublin", "france": "Europe/Paris", "lyon": "Europe/Paris",
    "marseille": "Europe/Paris", "nice": "Europe/Paris", "germany": "Europe/Berlin",
    "munich": "Europe/Berlin", "frankfurt": "Europe/Berlin", "hamburg": "Europe/Berlin",
    "cologne": "Europe/Berlin", "spain": "Europe/Madrid", "barcelona": "Europe/Madrid",
    "valencia": "Europe/Madrid", "seville": "Europe/Madrid", "portugal": "Europe/Lisbon",
    "porto": "Europe/Lisbon", "italy": "Europe/Rome", "milan": "Europe/Rome",
    "venice": "Europe/Rome", "florence": "Europe/Rome", "naples": "Europe/Rome",
    "netherlands": "Europe/Amsterdam", "holland": "Europe/Amsterdam", "belgium": "Europe/Brussels",
    "switzerland": "Europe/Zurich", "geneva": "Europe/Zurich", "austria": "Europe/Vienna",
    "poland": "Europe/Warsaw", "krakow": "Europe/Warsaw", "czech republic": "Europe/Prague",
    "czechia": "Europe/Prague", "hungary": "Europe/Budapest", "romania": "Europe/Bucharest",
    "bulgaria": "Europe/Sofia", "greece": "Europe/Athens", "sweden": "Europe/Stockholm",
    "norway": "Europe/Oslo", "denmark": "Europe/Copenhagen", "finland": "Europe/Helsinki",
    "iceland": "Atlantic/Reykjavik", "russia": "Europe/Moscow", "st petersburg": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow", "ukraine": "Europe/Kyiv", "kyiv": "Europe/Kyiv",
    "kiev": "Europe/Kyiv", "turkey": "Europe/Istanbul", "ankara": "Europe/Istanbul",
    "serbia": "Europe/Belgrade", "croatia": "Europe/Zagreb",
    # Africa and the Middle East
    "egypt": "Africa/Cairo", "morocco": "Africa/Casablanca", "nigeria": "Africa/Lagos",
    "ghana": "Africa/Accra", "kenya": "Africa/Nairobi", "ethiopia": "Africa/Addis_Ababa",
    "tanzania": "Africa/Dar_es_Salaam", "south africa": "Africa/Johannesburg",
    "cape town": "Africa/Johannesburg", "israel": "Asia/Jerusalem", "tel aviv": "Asia/Jerusalem",
    "saudi arabia": "Asia/Riyadh", "mecca": "Asia/Riyadh", "uae": "Asia/Dubai",
    "abu dhabi": "Asia/Dubai", "iran": "Asia/Tehran", "iraq": "Asia/Baghdad",
    "jordan": "Asia/Amman", "lebanon": "Asia/Beirut", "syria": "Asia/Damascus",
    "qatar": "Asia/Qatar", "kuwait": "Asia/Kuwait", "bahrain": "Asia/Bahrain",
    "oman": "Asia/Muscat", "yemen": "Asia/Aden", "algeria": "Africa/Algiers",
    "tunisia": "Africa/Tunis", "libya": "Africa/Tripoli", "sudan": "Africa/Khartoum",
    "senegal": "Africa/Dakar", "uganda": "Africa/Kampala", "rwanda": "Africa/Kigali",
    "zimbabwe": "Africa/Harare", "zambia": "Africa/Lusaka", "angola": "Africa/Luanda",
    "mozambique": "Africa/Maputo", "madagascar": "Indian/Antananarivo",
    "mauritius": "Indian/Mauritius", "fiji": "Pacific/Fiji",
    # Asia and Oceania
    "india": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata", "bombay": "Asia/Kolkata", "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata", "chennai": "Asia/Kolkata", "hyderabad": "Asia/Kolkata",
    "pakistan": "Asia/Karachi", "lahore": "Asia/Karachi", "islamabad": "Asia/Karachi",
    "nepal": "Asia/Kathmandu", "bangladesh": "Asia/Dhaka", "sri lanka": "Asia/Colombo",
    "china": "Asia/Shanghai", "beijing": "Asia/Shanghai", "shenzhen": "Asia/Shanghai",
    "guangzhou": "Asia/Shanghai", "taiwan": "Asia/Taipei", "japan": "Asia/Tokyo",
    "osaka": "Asia/Tokyo", "kyoto": "Asia/Tokyo", "korea": "Asia/Seoul",
    "south korea": "Asia/Seoul", "busan": "Asia/Seoul", "thailand": "Asia/Bangkok",
    "vietnam": "Asia/Ho_Chi_Minh", "hanoi": "Asia/Ho_Chi_Minh", "saigon": "Asia/Ho_Chi_Minh",
    "ho chi minh city": "Asia/Ho_Chi_Minh", "malaysia": "Asia/Kuala_Lumpur",
    "philippines": "Asia/Manila", "indonesia": "Asia/Jakarta", "bali": "Asia/Makassar",
    "australia": "Australia/Sydney", "canberra": "Australia/Sydney",
    "new zealand": "Pacific/Auckland", "wellington": "Pacific/Auckland",
}  # fmt: skip
_REGIONS = ("Africa/", "America/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/",
            "Pacific/")  # fmt: skip
# Zone database city names that are everyday words, never read as places.
_NOT_PLACES = frozenset(
    ["west", "north", "south", "east", "easter", "wake", "christmas", "virgin", "resolute",
     "cayenne", "center", "general", "universal"]
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")  # "texas's" is "texas" and "s"
_KEY = re.compile(r"\b[a-z]+/[a-z_]+(?:/[a-z_]+)?\b")
_LONGEST = max(len(a.split()) for a in ALIASES)


class Place(NamedTuple):
    """A place named in a text: the words used, its IANA zone, and where the words are."""

    label: str
    zone: str
    start: int
    end: int


@functools.lru_cache(maxsize=1)
def iana_keys() -> dict[str, str]:
    """'asia/tokyo' -> 'Asia/Tokyo' for every zone the device knows (built once)."""
    return {key.lower(): key for key in zoneinfo.available_timezones()}


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """Every name -> its zone: the IANA cities, then the aliases over them (built once)."""
    keys = set(iana_keys().values())
    out: dict[str, str] = {}
    for key in sorted(keys):
        name = key.split("/")[-1].replace("_", " ").lower()
        if key.startswith(_REGIONS) and key.count("/") == 1 and name not in _NOT_PLACES:
            out.setdefault(name, key)
    for name, key in ALIASES.items():
        if key in keys or not keys:
            out[name] = key
        elif key == "Europe/Kyiv" and "Europe/Kiev" in keys:  # tzdata before 2022b
            out[name] = "Europe/Kiev"
    return out


@functools.lru_cache(maxsize=1)
def _first_words() -> frozenset[str]:
    """The first word of every name in the table: the only words a place can start at."""
    return frozenset(name.split()[0] for name in _table())


def find_places(text: str) -> list[Place]:
    """The places named in ``text`` (lower case), in order, longest names first at each word."""
    table, first = _table(), _first_words()
    found = [
        Place(iana_keys()[m.group(0)], iana_keys()[m.group(0)], m.start(), m.end())
        for m in (_KEY.finditer(text) if "/" in text else ())  # a key holds a "/"
        if m.group(0) in iana_keys()
    ]
    words = list(_WORD.finditer(text))
    if found:  # the words of a key named are not read again
        words = [m for m in words if not any(p.start <= m.start() < p.end for p in found)]
    i = 0
    while i < len(words):
        if words[i].group(0) not in first:
            i += 1
            continue
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            name = " ".join(w.group(0) for w in words[i : i + n])
            zone = table.get(name)
            if zone is not None and (len(name) > 3 or name in ALIASES):
                found.append(Place(name, zone, words[i].start(), words[i + n - 1].end()))
                i += n
                break
        else:
            i += 1
    return sorted(found, key=lambda p: p.start)
