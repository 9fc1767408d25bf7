"""Reminders and lists agent: create lists, add, read, check and remove items, in SQLite.

Three lists always exist: ``reminders``, ``todo`` and ``shopping`` ("grocery
list", "groceries", "to-do", "tasks" and "chores" name them too); any other
list is created by name ("make a list of films to watch", "start a packing
list") or by adding to it ("put a tent on the camping gear list"). The request
is read from its words by ``parse``; the routed intent and the dialog's last
list only fill in what the words leave open, so "add milk too" after a
shopping-list turn lands on the shopping list. "Remind me" with no item asks
for it (``need_input``) and the next turn supplies it. Items live in the
runtime's agent database in the data dir, so they survive restarts.

Example::

    agent = RemindersAgent(data_dir=tmp)
    agent.handle(AgentTurn("s", ({"role": "user", "content": "remind me to call mom"},),
                           "reminder_update")).reply      # 'Added "call mom" to your reminders.'
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from ...agents.base import (
    CANCEL_INTENT,
    CANNOT,
    CERTAIN,
    POSSIBLE,
    AgentReply,
    AgentTurn,
    Gated,
    cancelled,
    holds_any,
    not_a_command,
    search_gated,
    words,
)
from ...errors import TargetError, TargetUnavailable
from .._agent_db import database_path, open_table

TABLE = "agent_list_items"
LISTS_TABLE = "agent_lists"
LISTS = {"reminders": "reminders", "todo": "to-do list", "shopping": "shopping list"}
_INTENT_LISTS = {
    "reminder": ("reminders", "list"),
    "reminder_update": ("reminders", "add"),
    "todo_list": ("todo", "list"),
    "todo_list_update": ("todo", "add"),
    "shopping_list": ("shopping", "list"),
    "shopping_list_update": ("shopping", "add"),
}
# What a list's name may be called in words -> the built-in list it means.
_BUILTIN_NAMES = {
    **dict.fromkeys(("shopping", "grocery", "groceries", "to buy", "to-buy", "purchase",
                     "shopping and grocery"), "shopping"),
    **dict.fromkeys(("to do", "to-do", "todo", "to dos", "to-dos", "todos", "task", "tasks",
                     "chore", "chores", "things to do", "to-dos", "pending tasks", "agenda"),
                    "todo"),
    **dict.fromkeys(("reminder", "reminders"), "reminders"),
    **dict.fromkeys(("shopping cart", "shopping bag", "shopping basket"), "shopping"),
}  # fmt: skip
# Named without "list": "groceries", "my tasks", "my shopping cart/bag" (no shop is wired in),
# and "my to-do" (only after "my" or "our": "the to do in Paris" is a list of sights).
_BARE_LISTS = (
    r"groceries|to-?do'?s|tasks|chores|reminders|shopping\s+(?:cart|bag|basket)"
    r"|(?<=\bmy\s)to[- ]?do\b|(?<=\bour\s)to[- ]?do\b"
)
# A list named in words: "my camping gear list", "the list", "my list of things to do",
# "groceries", "my reminders". Group "name" is its name ("" for "the list").
_LIST_NAMED = (
    r"(?:(?:my|the|our|your|this|that|a|an|one)\s+)?(?:new\s+)?"
    r"(?:(?P<name>[\w'-]+(?:\s+[\w'-]+){0,3}?)\s+)?lists?\b(?:\s+of\s+(?P<of>(?:things|stuff|"
    r"items|shit)\s+(?:(?:i|we)\s+(?:have|need)\s+)?to\s+(?:do|buy|get)|to-?dos|chores|"
    r"pending\s+tasks|tasks|reminders|groceries))?"
    rf"|(?:(?:my|the|our)\s+)?(?P<bare>{_BARE_LISTS})\b"
)
_LIST_RE = re.compile(_LIST_NAMED)
# The same without group names, to embed in other patterns; not "the list of transactions".
_LIST = "(?:" + re.sub(r"\(\?P<\w+>", "(?:", _LIST_NAMED) + r")(?!\s+of\b)"
_POLITE = (
    r"^(?:(?:please|hey|ok|okay|so|and|can\s+you|could\s+you|would\s+you|will\s+you|i\s+want\s+"
    r"to|i'd\s+like\s+to|i\s+would\s+like\s+to|i\s+need\s+to|let's|go\s+ahead\s+and|just)\s+)*"
)
_ADD_VERB = (
    r"add|put|stick|throw|pop|include|jot\s+down|write\s+down|write|note\s+down|tack\s+on|tack|"
    r"insert|place"
)
_REMOVE_VERB = (
    r"remove|delete|take|cross|strike|scratch|drop|get\s+rid\s+of|erase|cancel|clear|"
    r"knock|mark"
)
# Each with a word it cannot match without ("remind" in "reminded" and "reminder"), tested
# before the search (``_parse``).
_SELF_REMINDER = [
    ("remind", re.compile(r"^(?P<before>.+?),?\s+(?:please\s+)?remind\s+me\W*$")),  # ", remind me"
    (
        "remind",
        re.compile(
            r"\bremind\s+(?:me|us)\b(?!\s+(?:of|how|what|when|which|who|where|why)\b)(?P<rest>.*)$"
        ),
    ),
    ("remind", re.compile(r"\b(?:be|get)\s+reminded\b(?P<rest>.*)$")),
    (
        "remind",
        re.compile(
            r"\b(?:set|create|make|add|schedule|give|put\s+in|need|want|like|new|book)\s+"
            r"(?:up\s+)?(?:me\s+)?(?:a\s+|an\s+|one\s+)?(?:new\s+)?reminder\b(?:\s+for\s+me)?"
            r"(?P<rest>.*)$"
        ),
    ),
    ("remind", re.compile(r"^\W*(?:new\s+)?reminder\b\s*[:,-]\s*(?P<rest>.+)$")),
    (
        "forget",
        re.compile(_POLITE + r"(?:don't|do\s+not|dont)\s+let\s+me\s+forget\b(?P<rest>.*)$"),
    ),
    (  # "tell me to take out the trash in an hour": a reminder with a time
        "tell",
        re.compile(
            _POLITE
            + r"tell\s+me\s+to\s+(?P<rest>.+\b(?:in|at|on|tomorrow|tonight|later|when)\b.*)$"
        ),
    ),
]
# "make sure i remember to ...", "help me remember to ...": said to the assistant, certain.
_REMEMBER = re.compile(
    _POLITE + r"(?P<me>(?:make\s+sure\s+(?:that\s+)?(?:i|we)|help\s+(?:me|us))\s+)?"
    r"remember\s+(?=to\b|that\b)(?P<rest>.*)$"
)
_REMIND_OTHER = re.compile(r"\bremind\s+(?!me\b|us\b)[a-z]")
# Someone else's device or account: "set a reminder on Dad's phone", "add milk to the list on
# her tablet" (the agent keeps the user's lists on this device only).
_OTHERS_DEVICE = re.compile(
    r"\bon\s+(?:the\s+|my\s+|our\s+)?(?:[a-z]+'s?|his|her|their)\s+"
    r"(?:[a-z]+\s+)?(?:phone|cell|mobile|tablet|ipad|watch|laptop|computer|pc|account|device|"
    r"alexa|echo|speaker)s?\b"
)
_REMOVE_REMINDER = re.compile(
    rf"\b(?:{_REMOVE_VERB})\s+(?:the\s+|my\s+|that\s+)?reminder\s+(?:about|to|for|of|that)\s+(?P<item>.+)$"
)
_CREATE = re.compile(
    _POLITE + r"(?:create|make|start|begin|open|set\s+up|new|build|do)\s+(?:me\s+|us\s+)?"
    r"(?:a\s+|an\s+|one\s+)?(?:new\s+)?(?:(?P<name>[\w'-]+(?:\s+[\w'-]+){0,3}?)\s+)?list\b"
    r"\s*(?:(?:of|for|called|named|titled|:|-)\s*(?P<rest>.+))?$"
)
_CLEAR = re.compile(
    rf"\b(?:clear|empty|wipe|erase|reset|blank\s+out|nuke)\s+(?:out\s+)?(?:all\s+(?:of\s+)?)?(?P<list>{_LIST})"
    rf"|\b(?:delete|remove|erase|clear|take\s+off|nuke|cross\s+off)\s+(?:all|everything|every\s+item|"
    rf"all\s+(?:the\s+)?items)\s+(?:from|on|of|in|off)?\s*(?P<list2>{_LIST})"
    rf"|\b(?:delete|remove|clear)\s+all\s+(?P<list3>my\s+reminders)\b"
    rf"|\bmake\s+(?P<list4>{_LIST})\s+(?:blank|empty)\b"
    # "delete my to do list": a built-in list is emptied, never deleted
    rf"|^{_POLITE}(?:delete|remove|cancel|trash|get\s+rid\s+of)\s+(?P<list5>(?:my|the|our)\s+"
    r"(?:to-?\s?do|todo|shopping|grocery)\s+list)$"
)
_REMOVE = re.compile(
    rf"\b(?:{_REMOVE_VERB})\s+(?:off\s+|out\s+|away\s+)?(?P<item>.+?)\s+(?:off|from|out\s+of|on|in)\s+"
    rf"(?:of\s+)?(?P<list>{_LIST})"
    rf"|\b(?:don't|do\s+not|no\s+longer)\s+need\s+(?P<item2>.+?)\s+(?:on|in)\s+(?P<list2>{_LIST})"
    r"|\bcross\s+(?P<item3>.+?)\s+off\b"
)
_ADD = re.compile(
    rf"\b(?:{_ADD_VERB})\s+(?P<item>.+?)\s+(?:to|on|onto|in|into|under|at\s+the\s+end\s+of)\s+"
    rf"(?P<list>{_LIST})"
)
_ADD_ALONE = re.compile(
    rf"^{_POLITE}(?:add|put|stick|throw|pop|include|jot\s+down|write\s+down|tack\s+on)\s+(?P<item>.+)$"
)
# A stop on a route, no list named: "add a stop at the gas station" is for navigation.
_A_STOP = re.compile(r"(?:a|another|one\s+more)\s+(?:stop|waypoint|detour|pit\s+stop)\b")
# An item sent somewhere no list is named: "add Tom to my contacts", "add the hallway to
# tomorrow's cleaning".
_ADD_SOMEWHERE = re.compile(
    rf"\b(?:{_ADD_VERB}|remove|delete)\s+.+?\s+(?:to|on|onto|in|into|from|off)\s+"
    r"(?:(?:my|the|our|his|her|your|this|that|these|those)\s|[a-z]+'s?\s+(?!(?:[\w'-]+\s+)?"
    r"(?:lists?|tasks?|to-?\s?dos?|todos?|chores|errands|groceries|shopping|reminders)\b))"
)
# The list named first, then the change: "on my to do list, add dishes", "shopping list:
# remove eggs", "add to my task list get the carpet cleaned", "make sure bread is on my
# shopping list", "i need oranges on my shopping list". One change only: "remove bread
# and add milk" is left to the intent router.
_ONE_CHANGE = (
    rf"(?!.*(?:\b(?:and|then)\s+|[,;]\s*)(?:{_ADD_VERB}|{_REMOVE_VERB}|removed|added)\b)"
    r"(?!.*\bremoved\b)"
)
# A list named first is the user's own or a built-in one ("my camping list", "shopping list"),
# not any word before "list" ("what's list remove it").
_OWN = r"(?=(?:my|our|the)\s|(?:shopping|grocery|groceries|to[- ]?do|todo|task|tasks|chores?)\b)"
_ADD_FIRST_VERB = r"add|put|stick|throw|pop|jot\s+down|write\s+down|tack\s+on"
_ADD_FIRST = re.compile(
    rf"^{_POLITE}(?:(?:on|to|for|in|update)\s+)?{_OWN}(?P<list>{_LIST})\s*[,:;-]?\s*(?:please\s+)?"
    rf"(?:{_ADD_FIRST_VERB})\s+{_ONE_CHANGE}(?P<item>.+)$"
    rf"|^{_POLITE}(?:add|put|write\s+down|jot\s+down)\s+(?:to|on|onto)\s+{_OWN}(?P<list2>{_LIST})\s*[,:;-]?\s*"
    rf"{_ONE_CHANGE}(?P<item2>.+)$"
    rf"|^{_POLITE}(?:please\s+)?make\s+sure\s+(?:that\s+)?{_ONE_CHANGE}(?P<item3>.+?)\s+(?:is|are|gets?|goes|go)"
    rf"\s+(?:added\s+|put\s+)?(?:on|in|to|onto)\s+(?P<list3>{_LIST})$"
    # not the whole list, which is to order or buy: "i want everything on my shopping list"
    rf"|^{_POLITE}(?:i|we)\s+(?:need|want)\s+{_ONE_CHANGE}"
    r"(?!(?:to|you|everything|anything|all|whatever|what|the\s+(?:things|items|stuff|whole))\b)"
    rf"(?P<item4>.+?)\s+(?:added\s+|put\s+)?"
    rf"(?:on|in|to|onto)\s+(?P<list4>{_LIST})$"
)
_REMOVE_FIRST = re.compile(
    rf"^{_POLITE}(?:(?:on|from|for|in|update)\s+)?{_OWN}(?P<list>{_LIST})\s*[,:;-]?\s*(?:please\s+)?"
    rf"(?:remove|delete|take\s+off|cross\s+off|drop|erase|scratch)\s+{_ONE_CHANGE}(?P<item>.+)$"
)
_CHECK = re.compile(
    # "did i add to my reminder list that the car needs an oil change": the list first
    rf"^{_POLITE}(?:did|have)\s+(?:i|we)\s+(?:add(?:ed)?|put|write|written)\s+(?:to|on|in|into)\s+"
    rf"(?P<list5>{_LIST})\s+(?:that\s+)?(?P<item2>.+)$"
    rf"|^{_POLITE}(?:is|are|did\s+i\s+(?:add|put|write)|have\s+i\s+(?:added|put|got)|"
    r"do\s+i\s+have|does|did\s+you\s+(?:add|put)|can\s+you\s+(?:check|tell\s+me)\s+if\s+"
    rf"(?:i\s+have\s+)?|check\s+if)\s+(?P<item>.+?)\s+(?:already\s+|still\s+|listed\s+|currently\s+)?"
    rf"(?:on|in|to)\s+(?P<list>{_LIST})"
)
_READ = re.compile(
    rf"\b(?:what(?:'s|s|\s+is|\s+are|\s+do\s+i\s+have|\s+have\s+i\s+got|\s+else\s+is|\s+did\s+i\s+"
    rf"(?:put|add|write(?:\s+down)?))?\s+(?:left\s+|still\s+|currently\s+)?(?:on|in)\s+(?P<list>{_LIST})"
    rf"|(?:read|show|tell|list|give|check|open|recite|display|see|hear|go\s+over|go\s+through|"
    rf"pull\s+up|repeat|review|look\s+at|say)\s+(?:me\s+|to\s+me\s+|back\s+|out\s+|up\s+)*"
    rf"(?:(?:what's|what\s+is|everything|all\s+the\s+items|the\s+items|each\s+item)\s+(?:on|in)\s+)?"
    rf"(?P<list2>{_LIST}))"
    r"|\b(?:what|which|any)\s+(?P<list3>reminders)\b|\bwhat\s+are\s+my\s+(?P<list4>reminders)\b"
)
# The changes and questions read in this order (``_parse``), each with the words it cannot
# match without, a cheap test before a search that costs tens of microseconds on a long text
# (none: anchored at the start, the search is cheap). A list named (``_LIST``) spells "list",
# a bare list's name ("groceries", "to-dos", "tasks", ...) or "do" ("my to do"); every
# branch of _CLEAR, _REMOVE and _ADD opens with one of its verbs (_REMOVE's "don't need ...
# on LIST" with "need", "cross ... off" with "cross"), and every branch of _READ names a list.
_LIST_KEYS = ("list", "groceries", "do", "tasks", "chores", "reminders", "shopping")
_CLEAR_KEYS = (
    "clear", "empty", "wipe", "erase", "reset", "blank", "nuke", "delete", "remove", "take",
    "cross", "cancel", "trash", "rid",
)  # fmt: skip
_REMOVE_KEYS = (
    *dict.fromkeys(re.findall(r"[a-z]+", v)[0] for v in _REMOVE_VERB.split("|")),
    "need",
)
_ADD_KEYS = tuple(dict.fromkeys(re.findall(r"[a-z]+", v)[0] for v in _ADD_VERB.split("|")))
_CHANGE_PATTERNS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("clear", _CLEAR, _CLEAR_KEYS),
    ("remove", _REMOVE_FIRST, ()),
    ("add", _ADD_FIRST, ()),
    ("remove", _REMOVE, _REMOVE_KEYS),
    ("check", _CHECK, ()),
    ("add", _ADD, _ADD_KEYS),
    ("list", _READ, _LIST_KEYS),
)
# Apps and services whose lists the agent does not keep.
_APP_LISTS = (
    r"netflix|spotify|youtube|amazon|goodreads|kindle|audible|hulu|prime|disney\+?|steam|"
    r"imdb|letterboxd|pinterest|apple\s+music|watch\s+later|asana|trello|todoist|notion|"
    r"evernote|onenote|google\s+keep|jira|wunderlist|ticktick|outlook"
)
# Requests about lists that are not one of the user's lists, split by the words their
# branches spell out (``search_gated``).
_APP_KEYS = tuple(re.findall(r"[a-z]+", a)[0] for a in _APP_LISTS.split("|"))  # first words
_NOT_MINE: Gated = (
    # every branch anchored at the start ("^"): tried there alone
    (
        (),
        re.compile(
            r"^\W*list\s+(?:the|all|some|\d+|five|ten|three|every|of|famous|popular|good)\b"
            r"(?!\s+(?:things|items|reminders|tasks|of\s+my)\b)"
            # an errand for someone else: "ask Priya to add the tickets to the list", "tell Sam
            # that...", "tell Ana I added the tickets to our list", "let Tom know ..."
            r"|^\W*(?:please\s+)?(?:ask|tell|text|message|email|remind)\s+(?!me\b|us\b)[a-z]+"
            r"(?:\s+[a-z]+)?\s+(?:to|that|i|i'm|i've|i'll|we|we're|we've|it's|about)\b"
            r"|^\W*(?:please\s+)?let\s+(?!me\b|us\b)[a-z]+(?:\s+[a-z]+)?\s+know\b"
            # a how-to question ("how do I make a to do list app")
            r"|^\W*how\s+(?:do|can|should|would)\s+(?:i|you|we|one)\b|^\W*how\s+to\b"
            # "list your features", "what tasks can you complete for me", "my list of commands":
            # the assistant's abilities; "forget it" on its own calls something off
            r"|^\W*list\s+your\b"
            r"|^\W*(?:what|which)\s+(?:tasks|things|commands|jobs|stuff)\s+(?:can|could|do|will)\s+you\b"
            r"|^\W*what\s+(?:is|are)\s+(?:my|your|the)\s+list\s+of\s+commands\b"
            r"|^\W*(?:oh\s+)?(?:never\s*mind|forget\s+(?:it|about\s+it|that|this))\W*$"
            # a list sent to someone or somewhere, which the agent cannot do: "send my shopping
            # list to Jo", "share the to do list with my wife", "print my grocery list" (but
            # "remind me to send the list to Jo" is a reminder)
            rf"|^{_POLITE}(?:send|share|text|e-?mail|forward|print|export|sync|post|message)\s+"
            r"(?:out\s+)?(?:(?:my|the|our|this|that)\s+)?(?:[\w'-]+\s+){0,3}?(?:lists?|groceries|"
            r"to-?dos?|reminders)\b(?:\s+(?:to|with|over)\b|\W*$)"
        ),
    ),
    (
        ("list",),
        re.compile(
            r"\b(?:give|tell|show|get|find|write|generate|suggest|recommend|name|need|have|there)"
            r"\s+(?:me\s+|us\s+)?(?:a\s+|some\s+)?list\s+of\b"
            r"|\b(?:make|create|do)\s+(?:me\s+|us\s+)?(?:a\s+)?list\s+of\s+(?:the|all|some|top|"
            r"best|\d+|good|popular|famous|healthy|easy|cheap|fun)\b"
            # a list written for the user, not one of theirs: "give me a packing list for the
            # beach"
            r"|\b(?:give|get|write|generate|suggest|recommend|draw\s+up)\s+(?:me|us)\s+"
            r"(?:a|an|some)\s+(?:[\w'-]+\s+){0,2}list\b"
            # a list about something, or a list app: "make a list of pros and cons", "my to do
            # list app keeps crashing"
            r"|\blist\s+of\s+(?:pros\s+and\s+cons|reasons|ideas|ways|tips|examples|questions|"
            r"arguments|synonyms)\b|\blist\s+(?:app|application|widget|template|feature)s?\b"
            # a ranking or public list, not one the user keeps: "the bestseller list this
            # week", "the waiting list for the clinic"
            r"|\b(?:best[- ]?sell(?:ers?|ing)|top\s+(?:\d+|ten|twenty|forty|hundred)|billboard|"
            r"charts?|hot\s+100|richest|most\s+wanted|forbes|guinness|endangered|waiting)\s+"
            r"(?:[\w'-]+\s+){0,2}lists?\b"
            # a list kept somewhere else: "my list on the podcast app", "the guest list on the
            # website"
            r"|\blists?\b.{0,40}\b(?:on|in|at)\s+(?:the|my|your|their|our)\s+"
            r"(?:[\w'-]+\s+){0,2}(?:app|application|website|site|web\s+page)\b"
        ),
    ),
    (  # another app's list: "what's on my Netflix list", "my reading list on Goodreads"
        _APP_KEYS,
        re.compile(
            rf"\b(?:{_APP_LISTS})\b[\w' -]{{0,12}}\blist\b|\blist\s+(?:on|in|at)\s+"
            rf"(?:{_APP_LISTS})\b"
            rf"|\b(?:tasks?|to-?\s?dos?|reminders|lists?)\s+(?:on|in|at|from)\s+(?:{_APP_LISTS})\b"
        ),
    ),
    (  # what to buy or order: "order everything on my list", "i need everything on my list"
        ("order", "buy", "purchase", "need", "want"),
        re.compile(
            r"\b(?:order|buy|purchase)\b.{0,20}\b(?:everything|all\s+(?:of\s+)?(?:the\s+)?"
            r"(?:items|things|stuff)|what's)\b"
            r"|^(?:i|we)\s+(?:need|want)\s+(?:everything|all\s+(?:of\s+)?(?:the\s+)?(?:items|things|"
            r"stuff))\s+(?:on|in|from)\b"
        ),
    ),
    (
        ("remind",),
        re.compile(
            # a fact to recall ("remind me what the capital of Peru is"), not a request about
            # the user's own lists
            r"\bremind\s+me\s+(?:what|who|how|where|which|when|why)\b(?!.*\b(?:lists?|remember|"
            r"reminders?|to\s+do|need\s+to|told|asked|put|added|wanted|planned)\b)"
            # a reminder attached to something else: "add a reminder to the calendar event"
            r"|\badd\s+(?:a\s+)?reminder\s+to\s+(?:the|this|that|my|your|our)\s+"
            r"(?!(?:shopping|grocery|to-?\s?do|todo|reminders?)\b)[a-z]+(?:\s+[a-z]+)?\W*$"
        ),
    ),
    (
        ("what", "which"),
        re.compile(
            # a question about the assistant: "what tasks can you do"
            r"\b(?:what|which)\s+(?:\w+\s+){0,2}can\s+you\s+(?:do|help\s+with|handle)\b"
            # advice about lists in general: "what should be on a to do list for a new puppy"
            r"|\bwhat\s+(?:should|would|could|must|to|do\s+(?:i|you|people)\s+need\s+to)\s+"
            r"(?:i\s+|we\s+)?(?:be|go|put|add|include|write|have)\s+(?:on|in|to|into)\s+"
            r"(?:a|an|any)\s+"
        ),
    ),
    (  # a device's own tasks or list: "what tasks does the vacuum have today", "what's on my
        # list for the robot today"
        ("robot", "vacuum", "roomba", "mop", "mower", "dishwasher"),
        re.compile(
            r"\b(?:tasks?|lists?|to-?\s?dos?|jobs?)\b.{0,30}\b(?:for|of)\s+(?:the|my|our)\s+"
            r"(?:robot|vacuum|roomba|mop|mower|dishwasher)\b|\b(?:does|did|will|can)\s+"
            r"(?:the|my|our)\s+(?:robot|vacuum|roomba|mop|mower|dishwasher)(?:\s+[a-z]+)?\s+have\b"
        ),
    ),
    (  # a place's sights, which is a recommendation: "a list of things to see in Rome"
        ("things", "places", "sights", "stuff"),
        re.compile(
            r"\b(?:things|places|sights|stuff)\s+to\s+(?:see|visit|try|eat)\s+"
            r"(?:in|at|near|around)\b"
        ),
    ),
    (  # apps for lists in general: "the best apps for to do lists"
        ("app", "software", "program", "tool", "template", "planner"),
        re.compile(
            r"\b(?:apps?|applications?|software|programs?|tools?|templates?|planners?)\s+"
            r"(?:for|to)\s+(?:[\w'-]+\s+){0,3}?(?:lists?|to-?dos?|reminders|tasks)\b"
        ),
    ),
)


_VOCABULARY = re.compile(
    r"\blists?\b|\bremind|\breminders?\b|\bto[- ]?dos?\b|\btasks?\b|\bchores?\b|\bgrocer|"
    r"\bshopping\b|\bagenda\b|\bthings\s+(?:to|i|that\s+i)\b|\bhave\s+to\s+do\b|\bto\s+buy\b|"
    r"\bforget\b|\bremember\b|\bshop\b|\bneed\s+to\s+(?:get|pick)\b|\bnotif|"
    # "what do I need to buy", not "what do I need to bring to renew my passport"
    r"\bdo\s+(?:i|we)\s+need\b(?!\s+to\s+(?!(?:buy|get|do|pick|grab|shop)\b))|"
    r"\bbear\s+in\s+mind\b|\bplans?\s+for\s+(?:the\s+day|today)\b"
)
# A reminder someone sends the user ("the reminder email", "a reminder letter"), not one the
# agent keeps.
_SENT_REMINDER = re.compile(
    r"\breminder\s+(?:e-?mails?|letters?|notices?|cards?|texts?|messages?|calls?)\b"
)
# A question about what the user wanted to remember: the reminders answer it.
_RECALL = re.compile(
    r"\b(?:what|which|things|tell\s+me|list|recall)\b.*\b(?:i|we)\s+(?:(?:wanted|want|needed|"
    r"was\s+trying|were\s+trying|asked\s+you|told\s+you)\s+(?:you\s+)?to\s+(?:remember|recall|"
    r"bear\s+in\s+mind|keep\s+in\s+mind|remind\s+me)|(?:did\s+not|didn't|not)\s+want\s+to\s+forget)\b"
)
# A question about what the user has to do, and nothing more: their to-do list ("what do I
# have to get done today", "what must I finish this week"; not "what do I have to get done to
# renew my passport").
_WHAT_TO_DO = re.compile(
    r"^(?:(?:tell\s+me|let\s+me\s+know|remind\s+me)\s+)?what\s+(?:(?:do|must|should)\s+(?:i|we)\s+"
    r"(?:have\s+|need\s+)?to|must\s+(?:i|we))\s+(?:do|get\s+done|finish|accomplish|complete)"
    r"(?:\s+(?:today|tonight|tomorrow|this\s+(?:week|weekend|morning|afternoon|evening)|"
    r"next\s+week))?$"
    r"|^what(?:'s|\s+is|\s+are)\s+my\s+plans?\s+for\s+(?:the\s+day|today|tomorrow)$"
)
_NO_REMINDER = re.compile(
    r"^(?:(?:i|we)\s+)?(?:don't|dont|do\s+not|no\s+longer)\s+(?:need|want)\s+"
    r"(?:a\s+|an\s+|any\s+)?(?:reminders?|lists?)\b"
)
# What the user has to buy, and nothing more: the shopping list ("what do i need to buy at
# the store"; not "what do i need to buy for a camping trip").
_WHAT_TO_BUY = re.compile(
    r"^(?:(?:tell\s+me|remind\s+me)\s+)?what\s+(?:do|should|must)\s+(?:i|we)\s+(?:need\s+to|"
    r"have\s+to)?\s*(?:buy|get|pick\s+up)(?:\s+(?:at|from)\s+the\s+(?:store|shop|shops|"
    r"supermarket|grocery\s+store|market))?(?:\s+(?:today|tonight|tomorrow|this\s+week))?$"
)
_TODO_NOTE = re.compile(
    r"^(?:(?:new|another|add(?:\s+a)?)\s+)?(?:to[- ]?do|todo|task)\s*:\s*(?P<item>\S.*)$"
)
_HOW_TO = re.compile(
    r"\bwhat\s+(?:do|must|should|would)\s+(?:i|we)\s+(?:have\s+|need\s+)?to\s+do\s+"
    r"(?:to|for|with|about|if|when|so|in\s+order)\b"
)
# One of the user's lists named as theirs, and the words of any change to a list.
_MY_LIST = re.compile(r"\b(?:my|our)\s+(?:" + _LIST_NAMED + ")")
_CHANGES = re.compile(
    rf"\b(?:{_ADD_VERB}|{_REMOVE_VERB}|create|make|start|new|empty|check\s+off|want|"
    r"need(?!\s+(?:to\s+(?:know|hear|see|check)|my)\b)|"
    r"buy|get|share|send|sync|print|email|text|app|order|ordered|purchase|bill|pay|paid|"
    r"cost|costs|price|spend|spent)\b|(?:would|'d)\s+like\b"
)
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5,
}  # fmt: skip
_TRIM = re.compile(
    r"^(?:a |an |the |to |that |some |about |of |for |me |my )|(?:\s+(?:please|too|also|as well|"
    r"for me|for today|anymore|if it's not already there|if it's not on it|if it's not|"
    r"if they aren't|list|instead))+$",
    re.IGNORECASE,
)
_THAT = re.compile(r"^(?:it|them|that|those|this|these|one)$")
# What a media app is playing or showing ("add this song to my favorites list"): the app's
# list to change, and nothing the lists agent could write down.
_PLAYING = re.compile(
    r"(?:this|that|the\s+current|current)\s+(?:song|track|tune|album|artist|band|video|clip|"
    r"episode|podcast|movie|film|show|station|channel|photo|picture)"
)
_EVERYTHING = re.compile(r"everything|all(?:\s+of\s+(?:it|them|this|that))?|it\s+all|the\s+lot")
_NEED = re.compile(
    r"^(?:we|i)(?:'re|'m|\s+are|\s+am)?\s+(?:need(?:\s+to\s+(?:get|buy))?|want|have\s+to\s+"
    r"(?:get|buy)|(?:all\s+)?out\s+of|ran\s+out\s+of|(?:running\s+)?low\s+on)\s+"
)


# What the household needs more of or has run out of, no list named: the shopping list's
# ("we need more soap", "we're all out of eggs", "we've run out of coffee"). Only possible:
# it may be an order to place, and the router decides.
_RUN_OUT = re.compile(
    _POLITE + r"(?:we|i)(?:'re|'m|'ve|\s+are|\s+am|\s+have)?\s+(?:(?:all|almost|nearly|just)\s+)?"
    r"(?:need\s+(?:some\s+)?more|need\s+to\s+(?:get|buy)\s+(?:some\s+)?more|(?:run|ran)\s+out\s+of|"
    r"out\s+of|running\s+(?:out\s+of|low\s+on)|low\s+on)\s+(?P<item>[a-z][\w' -]*)$"
)


def _taken_off(verbs: str) -> str:
    """The removal said after the item, one of ``verbs`` (group "off"): ", take it off",
    "so remove them from the list"."""
    return (
        rf"(?P<off>\W+(?:so\s+)?(?:you\s+can\s+)?(?:{verbs})\s+(?:it|them|that|those)"
        r"(?:\s+off)?(?:\s+(?:off|from))?(?:\s+(?:the|my)\s+(?:(?:shopping|grocery)\s+)?list)?)?$"
    )


# What the user bought, no list named: it comes off the shopping list ("i bought the milk,
# take it off", "we already got the coffee, remove it", "i got the shampoo already"). Group
# "off": the removal said, which makes it certain; without it only possible ("i got the
# bread" may be news).
_GOT_VERB = r"(?:already\s+|just\s+)?(?:bought|got|picked\s+up|grabbed|purchased)\s+"
_BOUGHT = re.compile(
    rf"{_POLITE}(?:i|we)\s+{_GOT_VERB}(?:the|some)\s+(?P<item>[a-z][\w' -]*?)(?:\s+already)?"
    + _taken_off("take|cross|remove|delete|scratch|strike|check")
)
# What the household no longer needs, no list named: it comes off the shopping list ("we
# don't need eggs anymore", "i no longer need milk, so forget that"); certain only with the
# removal said, as for what was bought.
_NO_LONGER = re.compile(
    rf"{_POLITE}(?:i|we)\s+(?:no\s+longer|don't|do\s+not|dont)\s+need\s+(?:the\s+|any\s+)?"
    r"(?!an?\s|to\s)(?P<item>[a-z][\w' -]*?)(?:\s+any\s*more)?"
    + _taken_off("forget|take|cross|remove|delete|scratch|strike")
)
# The words before what was bought: "i already bought", "picked up", "got".
_GOT = re.compile(r"^(?:(?:i|we)\s+)?" + _GOT_VERB)
# Things one runs out of or gets that are not shopping: "we're out of time", "i need more
# sleep", "i got the job", "i ran out of checks" (ordered from the bank).
_NOT_GROCERIES = re.compile(
    r"^(?:the\s+|my\s+|our\s+)?(?:time|patience|sleep|ideas?|options?|money|cash|breath|luck|"
    r"energy|gas|fuel|battery|data|storage|space|room|town|office|vacation|pto|days?|checks?|"
    r"friends?|players?|people|exercise|help|practice|info|information|memory|minutes?|hours?|"
    r"job|flu|cold|promotion|package|parcel|tickets?|message|email|call|wrong|results?|"
    r"news|credit|points|miles|stamina|steam|excuses|things\s+to|here|there|it|this|that|line|"
    r"control|shape|order|touch|reach|sight|work|school|country|state|words|funds)\b"
    # as the whole item only: "the car", not "car wax"
    r"|^(?:the\s+|my\s+|our\s+)?(?:kids|children|house|home|car|keys|stocks?|shares|place|"
    r"apartment)$"
    # for someone, somewhere or at a price: "flowers for mom", "the stock at 50"
    r"|.*\s(?:for|at|to|from|with)\s"
)


class ListRequest(NamedTuple):
    """What a request asks of the lists (``parse``); ``list`` is ``None`` when no list is named."""

    action: str  # "add" | "remove" | "check" | "list" | "clear" | "create"
    list: str | None
    item: str
    certain: bool


def parse(text: str) -> ListRequest | None:
    """Read a request; ``None`` when it is not one for the lists: no list or reminder words,
    a list that is not the user's ("give me a list of the tallest buildings"), a reminder for
    someone else ("remind Sam about dinner"), or an item sent somewhere else ("add Tom to my
    contacts", "put the shoes in my cart"). Items keep the user's capitals ("the Godfather")."""
    raw = text.replace("’", "'")
    request = _parse(raw.lower())
    if request is None or not request.item:
        return request
    at = raw.lower().find(request.item)
    return request._replace(item=raw[at : at + len(request.item)]) if at >= 0 else request


# Courtesy at the end is gone before a parse (``without_courtesy``); "now" is not courtesy
# but says no time: "remind me to call mom now" is "call mom". ("$" matches at the end or
# before a newline that ends the text.)
_NOW_END = re.compile(r"[\s,]+now$")
# The cheap tests before the searches of ``_parse`` below: words each pattern cannot match
# without.
_RECALL_KEYS = ("remember", "recall", "mind", "remind", "forget")
_ADD_SOMEWHERE_KEYS = (*_ADD_KEYS, "remove", "delete")


def _parse(t: str) -> ListRequest | None:
    t = t.strip().rstrip("?.! ")
    if t.endswith("now"):
        t = _NOW_END.sub("", t)
    if (
        search_gated(_NOT_MINE, t)
        or (
            "remind" in t
            and _REMIND_OTHER.search(t)
            and not re.search(r"\bremind\s+(?:me|us)\b", t)
        )
        or ("on " in t and _OTHERS_DEVICE.search(t))
    ):
        return None
    if ("need" in t or "want" in t) and _NO_REMINDER.search(t):
        return None  # "i don't want a reminder": nothing to add or remove
    if holds_any(t, _RECALL_KEYS) and _RECALL.search(t):
        # "what were the things i wanted to remember"
        return ListRequest("list", "reminders", "", True)
    if _WHAT_TO_DO.search(t):  # "what do i have to do today": the to-do list answers it
        return ListRequest("list", "todo", "", True)
    if ("buy" in t or "get" in t or "pick" in t) and _WHAT_TO_BUY.match(t):
        return ListRequest("list", "shopping", "", True)
    if "to do " in t and _HOW_TO.search(t):
        return None  # "what do i have to do to get a refund": how to, not the to-do list
    m = _TODO_NOTE.match(t) if ":" in t else None
    if m:  # "new to do: book dentist", typed as a note
        return ListRequest("add", "todo", _clean(m.group("item")), True)
    m = _REMOVE_REMINDER.search(t) if "reminder" in t else None
    if m:
        return ListRequest("remove", "reminders", _clean(m.group("item")), True)
    for key, pattern in _SELF_REMINDER:
        m = pattern.search(t) if key in t else None
        if m:
            groups = m.groupdict()
            if groups.get("before") is not None:
                item = _NEED.sub(
                    "", re.sub(r"^i\s+(?:have|need|must|got)\s+to\s+", "", groups["before"])
                )
            else:
                item = _reminder_item(groups["rest"])
            return ListRequest("add", "reminders", _clean(item), True)
    m = _REMEMBER.search(t) if "remember" in t else None
    if m:  # "remember to lock the doors" may be meant for a device: not certain
        item = _clean(_reminder_item(m.group("rest")))
        return ListRequest("add", "reminders", item, m.group("me") is not None)
    m = _CREATE.search(t) if "list" in t else None
    if m:
        name = _list_name(m.group("name") or "", m.group("rest") or "")
        if name is not None:
            return ListRequest("create", name, "", True)
    m = _BOUGHT.match(t) or (_NO_LONGER.match(t) if "need" in t else None)
    if m and len(m.group("item").split()) <= 4:  # before "cross it off" is read as "it"
        return _groceries("remove", m.group("item"), certain=bool(m.group("off")))
    for action, pattern, keys in _CHANGE_PATTERNS:
        m = pattern.search(t) if not keys or holds_any(t, keys) else None
        if m is None:
            continue
        named = _named(m)
        if named is None or (named == "" and pattern in (_ADD_FIRST, _REMOVE_FIRST)):
            continue  # not a list's name, or "the list" before a verb ("the list remove it")
        item = _clean(next((v for k, v in m.groupdict().items() if k.startswith("item") and v), ""))
        if action == "add" and _THAT.match(item):  # "we need toilet paper, add it to the list"
            before = t[: m.start()].rstrip(" ,;")
            item = _clean(_NEED.sub("", before.split(",")[-1].strip())) if before else item
        elif action == "add":  # "put on my shopping list i need carrots": the carrots
            item = _clean(_NEED.sub("", item))
        if _PLAYING.fullmatch(item) or (action == "add" and _EVERYTHING.fullmatch(item)):
            # "add this song to my favorites list": the media app's; "add everything to my
            # shopping cart": a basket to fill, nothing to write down
            return None
        if action == "remove" and _THAT.match(item) and t[: m.start()].strip(" ,;"):
            # "picked up the eggs, take them off the list": the eggs
            before = t[: m.start()].rstrip(" ,;").split(",")[-1].strip()
            item = _clean(_GOT.sub("", before)) or item
        if action == "check":
            if re.search(r"\bif\s+(?:not|it's\s+not|they\s+aren't|it\s+isn't)\b", t):
                action = "add"  # "is paprika on my list, if not add it"
            # "did i add to my reminders that i need to call mom": the item is "call mom"
            item = _clean(re.sub(r"^(?:i|we)\s+(?:need|have|must|got)\s+to\s+", "", item))
        return ListRequest(action, named or None, item, True)
    if holds_any(t, _ADD_SOMEWHERE_KEYS) and _ADD_SOMEWHERE.search(t):
        return None  # "add Tom to my contacts": somewhere that is not a list
    m = _MY_LIST.search(t)
    if m and not _CHANGES.search(t):
        # a question about one of the user's own lists, in words the patterns above do not
        # read ("what does my to-do list look like", "how many items are on my todo list"):
        # reading the list answers it
        named = _list_name(m.group("name") or "", m.group("of") or m.group("bare") or "")
        if named in LISTS:
            return ListRequest("list", named, "", True)
    m = _RUN_OUT.match(t) if (" out " in t or "need" in t or " low " in t) else None
    if m and len(m.group("item").split()) <= 4:
        return _groceries("add", m.group("item"))
    m = _ADD_ALONE.match(t)
    if m and not _A_STOP.match(m.group("item")):
        return ListRequest("add", None, _clean(m.group("item")), False)
    if "reminder " in t and not _VOCABULARY.search(_SENT_REMINDER.sub("", t)):
        return None  # only a reminder someone sends: "cancel the reminder email"
    if _VOCABULARY.search(t):
        return ListRequest("list", None, "", False)
    return None


def _groceries(action: str, item: str, certain: bool = False) -> ListRequest | None:
    """A change to the shopping list no list named; ``None`` for what is not bought ("we're
    out of time", "i got the job")."""
    if _NOT_GROCERIES.match(item):
        return None
    return ListRequest(action, "shopping", _clean(item), certain)


def _named(m: re.Match[str]) -> str | None:
    """The list a match names: a built-in key, a custom name, "" for "the list", or
    ``None`` when the words around "list" are not a list's name ("playlist" never matches)."""
    g = m.groupdict()
    for key in ("list", "list2", "list3", "list4", "list5"):
        phrase = g.get(key)
        if phrase:
            inner = _LIST_RE.fullmatch(phrase)
            if inner is None:
                return ""
            return _list_name(
                inner.group("name") or "", inner.group("of") or inner.group("bare") or ""
            )
    return ""


def _list_name(name: str, rest: str) -> str | None:
    """The list meant by the words before "list" (``name``) or after it (``rest``)."""
    name = re.sub(r"^(?:my|the|our|a|an|new|own)\s+", "", name.strip())
    rest = re.sub(r"^(?:my|the|our|a|an)\s+", "", rest.strip().strip("\"'“”"))
    for phrase in (name, rest):
        if phrase in _BUILTIN_NAMES:
            return _BUILTIN_NAMES[phrase]
        if re.fullmatch(
            r"(?:things|stuff|items|shit)\s+(?:(?:i|we)\s+(?:have|need)\s+)?to\s+(buy|get|do)",
            phrase,
        ):
            return "todo" if phrase.endswith("do") else "shopping"
    named = name or rest
    if re.search(r"\b(?:play|watch|wish|check|guest)list\b", named):
        return None
    return named


# "for" and a time of day or a day before what to do: "for 3 pm to pick up the kids".
_FOR_WHEN = re.compile(
    r"^for\s+(?P<when>(?:\d[\d:.]*\s*(?:am|pm|a\.m\.|p\.m\.|o'clock)?|noon|midnight|"
    r"today|tonight|tomorrow|(?:this|tomorrow|next)\s+(?:morning|afternoon|evening|week|weekend)|"
    r"(?:next\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day(?:\s+(?:morning|afternoon|"
    r"evening|night))?)(?:\s+at\s+\d[\d:.]*\s*(?:am|pm)?)?)\s+(?:to|about|that)\s+(?P<what>.+)$"
)


def _reminder_item(rest: str) -> str:
    """The item in what follows "remind me": "tonight to lock the door" -> "lock the door
    tonight", "that the car needs oil" -> "the car needs oil"."""
    rest = rest.strip(" ,:;-")
    m = _FOR_WHEN.match(rest)  # "for 3 pm to pick up the kids": "for" heads the time
    if m:
        at = "at " if m.group("when")[0].isdigit() else ""
        return f"{m.group('what')} {at}{m.group('when')}"
    m = re.match(r"^(?P<when>.*?)\s*\b(?:to|about|that|of|for)\s+(?P<what>.+)$", rest)
    if m is None:
        return rest
    when = m.group("when").strip(" ,")
    if when and len(when.split()) <= 4 and not re.search(r"\b(?:remind|reminder)\b", when):
        return f"{m.group('what')} {when}"
    return m.group("what") if not when else rest


# Words without which no text is a request for the lists (the claim's cheap gate).
_GATE_WORDS = frozenset(
    ["list", "lists", "remind", "reminder", "reminders", "reminded", "todo", "todos", "todo's",
     "tasks", "task", "chore", "chores", "groceries", "grocery", "shopping", "agenda", "forget",
     "remember", "shop", "notify", "notified", "notification", "add", "put", "stick", "throw",
     "pop", "include", "jot", "tack", "things", "need", "mind", "plan", "plans", "done", "finish",
     "accomplish", "complete", "out", "low", "bought", "got", "picked", "grabbed", "purchased"]
)  # fmt: skip


_TO_DO = re.compile(r"\bto[- ](?:do|buy)\b|\btell\s+me\s+to\b")


def claim(text: str) -> float:
    """How surely the lists agent reads ``text`` (the agent stage's claim, see ``agent_stage``).

    ``CERTAIN`` for a reminder for the user ("remind me to call mom"), a list
    created by name, or an item added to, removed from or checked on a named
    list, a list read or cleared, what the user has to do ("what is my plan
    for the day": the to-do list), and what the user bought said to come off
    ("i bought the milk, take it off": the shopping list); ``POSSIBLE`` for list
    words without such a reading, "add X" with no list named, and what the
    household needs more of, has run out of or bought ("we're out of soap": the
    shopping list, or an order to place); ``CANNOT`` with no list or
    reminder words at all ("tell the vacuum to clean the kitchen"), for lists
    that are not the user's (a ranking: "the bestseller list"; lists in
    general: "the best apps for to do lists"), lists sent elsewhere ("send my
    shopping list to Jo"), reminders for someone else or on someone else's
    device ("set a reminder on Dad's phone"), items sent somewhere
    that is not a list ("add a filter to this photo"), what a media app is
    playing or showing ("add this song to my favorites list"), and what no built-in
    agent takes (``not_a_command``): writing about a subject ("a poem about my
    to-do list"), questions about words ("how do you say shopping list in
    French"), questions for a reason or a person, and settings ("turn off
    reminder notifications").
    """
    t, words_in, _ = words(text)
    if (
        _GATE_WORDS.isdisjoint(words_in) and not ("to" in words_in and _TO_DO.search(t))
    ) or not_a_command(t, words_in):
        return CANNOT
    request = parse(t)
    if request is None:
        return CANNOT
    return CERTAIN if request.certain else POSSIBLE


class ListStore:
    """Items of all lists in one SQLite table, and the lists created by name (thread-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = open_table(
                self.path, TABLE, {"id": int, "list": str, "text": str, "created": float}, pk="id"
            )
            self._db.table(LISTS_TABLE).create(
                {"name": str, "created": float}, pk="name", if_not_exists=True
            )
        except (OSError, sqlite3.Error) as exc:
            raise TargetUnavailable(
                f"cannot open the list database {self.path}: {exc}", target="reminders"
            ) from exc
        self._lock = threading.Lock()

    def add(self, list_name: str, text: str) -> int:
        with self._lock, self._db.conn:
            table = self._db.table(TABLE)
            table.insert({"list": list_name, "text": text, "created": time.time()})
            return int(table.last_pk)  # type: ignore[arg-type]

    def items(self, list_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._db.table(TABLE).rows_where("list = ?", [list_name], order_by="id"))

    def remove(self, list_name: str, item_id: int) -> None:
        with self._lock, self._db.conn:
            self._db.execute(f"delete from {TABLE} where id = ? and list = ?", [item_id, list_name])

    def clear(self, list_name: str) -> int:
        with self._lock, self._db.conn:
            cur = self._db.execute(f"delete from {TABLE} where list = ?", [list_name])
            return cur.rowcount

    def create(self, list_name: str) -> bool:
        """Create a list by name; ``False`` if it already existed."""
        if list_name in LISTS or list_name in self.lists():
            return False
        with self._lock, self._db.conn:
            self._db.table(LISTS_TABLE).insert({"name": list_name, "created": time.time()})
        return True

    def lists(self) -> list[str]:
        """The lists created by name or holding items, besides the built-in three."""
        with self._lock:
            rows = self._db.execute(
                f"select name from {LISTS_TABLE} union select list from {TABLE} order by 1"
            ).fetchall()
        return [r[0] for r in rows if r[0] not in LISTS]

    def last_used(self) -> str | None:
        """The list the last item was added to."""
        with self._lock:
            row = self._db.execute(f"select list from {TABLE} order by id desc limit 1").fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _clean(item: str) -> str:
    item = item.strip().strip("\"'“”?.!, ")
    for _ in range(3):
        item = _TRIM.sub("", item).strip().strip("\"'“”?.!, ")
    return item


def _match_item(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """The item named ``wanted``: its number ("2", "the second item", "the last one"),
    its exact text, or a word overlap."""
    m = re.fullmatch(r"(?:(?:item|number|no\.?)\s+)?(\d+)|(\w+)\s+(?:item|one|thing|entry)", wanted)
    if m:
        n = int(m.group(1)) if m.group(1) else _ORDINALS.get(m.group(2), -1)
        if m.group(2) == "last":
            n = len(items)
        return items[n - 1] if 0 < n <= len(items) else None
    w = wanted.lower()
    for item in items:
        if item["text"].lower() == w:
            return item
    for item in items:
        if w in item["text"].lower() or item["text"].lower() in w:
            return item
    return None


def display(list_name: str) -> str:
    """How a reply names a list: "your shopping list", "your packing list"."""
    return LISTS.get(list_name) or f"{list_name} list"


class RemindersAgent:
    """Answers reminder, to-do, shopping and named-list requests from SQLite."""

    name = "reminders"
    claim = staticmethod(claim)

    def __init__(self, name: str = "reminders", *, data_dir: str | Path = ".", **_: Any):
        self.name = name
        self.store = ListStore(database_path(data_dir))

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        raw = turn.request.replace("’", "'").strip()
        slots = turn.slots
        request = parse(raw)
        if slots.get("pending") == "item" and (request is None or not request.certain):
            return self._add(str(slots.get("list") or "reminders"), _clean(raw))
        try:
            replies = [
                self._do(step or ListRequest("list", None, "", False), turn.intent, slots, part)
                for part, step in self._parts(raw, request)
            ]
        except sqlite3.Error as exc:
            raise TargetError(f"list database error: {exc}", target=self.name) from exc
        if len(replies) == 1:
            return replies[0]
        return AgentReply(  # "remove X from my shopping list and add Y"
            reply=" ".join(r.reply for r in replies),
            state=replies[-1].state,
            slots=replies[-1].slots,
            data={"steps": [r.data for r in replies]},
        )

    def _parts(
        self, text: str, request: ListRequest | None
    ) -> list[tuple[str, ListRequest | None]]:
        """One request, or two joined by "and": "add eggs to my shopping list and remove cheese"."""
        m = re.search(rf",?\s+and\s+(?=(?:{_ADD_VERB}|{_REMOVE_VERB})\b)", text, re.IGNORECASE)
        if request is None or m is None or request.action not in ("add", "remove"):
            return [(text, request)]
        first, second = text[: m.start()], text[m.end() :]
        one, two = parse(first) or request, parse(second)
        if two is None:
            return [(text, request)]
        if two.list is None:
            two = two._replace(list=one.list)
        if one.list is None:
            one = one._replace(list=two.list)
        if _THAT.match(two.item or "") or not two.item:
            return [(text, request)]
        return [(first, one), (second, two)]

    def _do(self, request: ListRequest, intent: str, slots: Any, text: str) -> AgentReply:
        text = text.lower()
        list_name = self._list(request, intent, slots, text)
        action = request.action
        if not request.certain:
            action = self._action(request, intent, text)
        if action == "create":
            return self._create(list_name)
        if action == "clear":
            n = self.store.clear(list_name)
            return AgentReply(
                reply=f"Cleared your {display(list_name)} ({n} item{'s' * (n != 1)}).",
                slots={"list": list_name},
                data={"list": list_name, "action": "clear", "removed": n},
            )
        if action == "remove":
            return self._remove(list_name, request.item)
        if action == "check":
            return self._check(list_name, request.item)
        if action == "add":
            return self._add(list_name, request.item)
        return self._list_items(list_name)

    def _list(self, request: ListRequest, intent: str, slots: Any, text: str) -> str:
        """The list the words name, else the intent's, else a hint in the words, else the
        dialog's last list, else the list last added to."""
        if request.list:
            return request.list
        if intent in _INTENT_LISTS:
            return _INTENT_LISTS[intent][0]
        for phrase, key in sorted(_BUILTIN_NAMES.items(), key=lambda kv: -len(kv[0])):
            if re.search(rf"\b{re.escape(phrase)}\b", text):
                return key
        if re.search(r"\bremind|\bremember\b|\bforget\b", text):
            return "reminders"
        return str(slots.get("list") or self.store.last_used() or "shopping")

    def _action(self, request: ListRequest, intent: str, text: str) -> str:
        """For a request the words leave open: the words' action if they have one, else the
        intent's (read or change), else read."""
        if request.action != "list":
            return request.action
        kind = _INTENT_LISTS.get(intent, ("", ""))[1]
        if kind == "add":
            item = _clean(re.sub(r"^(?:i|we)\s+(?:need|want)\s+(?:to\s+(?:buy|get)\s+)?", "", text))
            return "add" if item and item == request.item else "list"
        return "list"

    def _create(self, list_name: str) -> AgentReply:
        created = self.store.create(list_name)
        items = self.store.items(list_name)
        if created:
            reply = f"Created your {display(list_name)}. What should I add to it?"
        else:
            reply = f"You already have a {display(list_name)}" + (
                f" ({len(items)} item{'s' * (len(items) != 1)})." if items else "."
            )
        return AgentReply(
            reply=reply,
            slots={"list": list_name},
            data={"list": list_name, "action": "create", "created": created},
        )

    def _add(self, list_name: str, item: str) -> AgentReply:
        if not item or item in ("something", "do something", "a reminder", "reminder", "it"):
            what = "remind you about" if list_name == "reminders" else "add"
            return AgentReply(
                reply=f"What should I {what}?",
                state="need_input",
                slots={"list": list_name, "pending": "item"},
                data={"list": list_name, "action": "add"},
            )
        things = _things(item) if list_name not in ("reminders", "todo") else [item]
        if len(things) > 1:
            return self._add_several(list_name, item, things)
        existing = next(
            (i for i in self.store.items(list_name) if i["text"].lower() == item.lower()), None
        )
        if existing is not None:
            return AgentReply(
                reply=f'"{item}" is already on your {display(list_name)}.',
                slots={"list": list_name},
                data={"list": list_name, "action": "add", "id": existing["id"], "text": item},
            )
        item_id = self.store.add(list_name, item)
        return AgentReply(
            reply=f'Added "{item}" to your {display(list_name)}.',
            slots={"list": list_name},
            data={"list": list_name, "action": "add", "id": item_id, "text": item},
        )

    def _add_several(self, list_name: str, said: str, things: list[str]) -> AgentReply:
        """Each of ``things`` as its own entry (one already on the list is not added twice),
        so that one of them can later come off alone."""
        known = {i["text"].lower() for i in self.store.items(list_name)}
        added = []
        for thing in things:
            if thing.lower() not in known:
                known.add(thing.lower())
                added.append({"id": self.store.add(list_name, thing), "text": thing})
        names = [f'"{t}"' for t in things]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        already = len(things) - len(added)
        note = f" ({already} of them already there)" if already else ""
        return AgentReply(
            reply=f"Added {listed} to your {display(list_name)}{note}.",
            slots={"list": list_name},
            data={"list": list_name, "action": "add", "text": said, "items": added},
        )

    def _remove(self, list_name: str, wanted: str) -> AgentReply:
        items = self.store.items(list_name)
        found = _match_item(items, wanted) if wanted else None
        if found is None:
            shown = f'"{wanted}"' if wanted else "that"
            return AgentReply(
                reply=f"I can't find {shown} on your {display(list_name)}. "
                + _enumerate(list_name, items),
                slots={"list": list_name},
                data={"list": list_name, "action": "remove", "error": "not found"},
            )
        self.store.remove(list_name, int(found["id"]))
        return AgentReply(
            reply=f'Removed "{found["text"]}" from your {display(list_name)}.',
            slots={"list": list_name},
            data={"list": list_name, "action": "remove", "id": found["id"], "text": found["text"]},
        )

    def _check(self, list_name: str, wanted: str) -> AgentReply:
        if not wanted:
            return self._list_items(list_name)
        found = _match_item(self.store.items(list_name), wanted)
        answer = "Yes" if found else "No"
        where = "is" if found else "is not"
        shown = found["text"] if found else wanted  # as written on the list
        return AgentReply(
            reply=f'{answer}, "{shown}" {where} on your {display(list_name)}.',
            slots={"list": list_name},
            data={"list": list_name, "action": "check", "text": wanted, "found": bool(found)},
        )

    def _list_items(self, list_name: str) -> AgentReply:
        items = self.store.items(list_name)
        return AgentReply(
            reply=_enumerate(list_name, items),
            slots={"list": list_name},
            data={
                "list": list_name,
                "action": "list",
                "items": [{"id": i["id"], "text": i["text"]} for i in items],
            },
        )

    def close(self) -> None:
        self.store.close()


def _things(item: str) -> list[str]:
    """The things an add lists with commas ("eggs, milk and bread", "tent, stove, lamp");
    the item itself without a comma ("salt and pepper", "mac and cheese")."""
    if "," not in item:
        return [item]
    parts = [p.strip() for p in item.split(",")]
    last = re.sub(r"^and\s+", "", parts.pop())
    parts += last.split(" and ", 1) if " and " in last else [last]
    things = [_clean(p) for p in parts]
    return things if all(things) else [item]


def _enumerate(list_name: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return f"Your {display(list_name)} is empty."
    lines = "; ".join(f"{n}. {i['text']}" for n, i in enumerate(items, 1))
    return f"Your {display(list_name)}: {lines}."
