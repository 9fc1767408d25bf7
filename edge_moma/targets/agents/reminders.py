"""Reminders and lists agent: add, list, check and remove items, kept in SQLite.

Three lists share one table: ``reminders``, ``todo`` and ``shopping``. The list
comes from the words ("grocery list", "to-do"), else from the routed intent,
else from the dialog's last list, so "add milk too" after a shopping-list turn
lands on the shopping list. "Remind me" with no item asks for it
(``need_input``) and the next turn supplies it. Items live in the runtime's
agent database in the data dir, so they survive restarts.

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
from typing import Any

from ...agents.base import CANCEL_INTENT, AgentReply, AgentTurn, cancelled
from ...errors import TargetError, TargetUnavailable
from .._agent_db import database_path, open_table

TABLE = "agent_list_items"
LISTS = {"reminders": "reminders", "todo": "to-do list", "shopping": "shopping list"}
_INTENT_LISTS = {
    "reminder": ("reminders", "list"),
    "reminder_update": ("reminders", "add"),
    "todo_list": ("todo", "list"),
    "todo_list_update": ("todo", "add"),
    "shopping_list": ("shopping", "list"),
    "shopping_list_update": ("shopping", "add"),
}
_NAMED_LIST = [
    ("shopping", re.compile(r"\b(?:shopping|grocery|to-?buy|purchase)\s+list\b")),
    ("todo", re.compile(r"\b(?:to[- ]?do|chores?)\s+list\b|\blist\s+of\s+(?:to-?dos|things to)")),
    ("reminders", re.compile(r"\breminders?\s+list\b|\blist\s+of\s+reminders\b")),
]
_LIST_WORDS = [
    ("shopping", re.compile(r"\b(?:shopping|grocery|groceries|to-?buy|purchase)\b")),
    ("todo", re.compile(r"\bto[- ]?dos?\b|\bchores?\b|\bthings to do\b")),
    ("reminders", re.compile(r"\bremind(?:er|ers|ed)?\b|\bremember\b")),
]
_LIST_PHRASE = (
    r"(?:(?:my|the)\s+)?(?:list\s+of\s+)?(?:shopping|grocery|to[- ]?do|todo|chore|reminders?"
    r"|things\s+to\s+do|to-?buy|purchase)?\s*(?:list|lists|list of to-?dos|to-?dos|chores)?"
)
_ACTIONS = [
    ("clear", re.compile(r"\b(?:clear|empty|get rid of|remove all|delete all|wipe|"
                         r"take everything off|remove everything)\b")),
    ("remove", re.compile(r"\b(?:remove|delete|take|cross|drop|strike)\b.*\b(?:off|from)\b|"
                          r"\b(?:remove|delete)\b|\b(?:don't|do not|no longer) need\b")),
    ("check", re.compile(r"^(?:is|are|did|does|do i have|have i|am i)\b")),
    ("add", re.compile(r"\b(?:add|put|include|note|insert|throw|tack|remind me|set (?:a|up a)"
                       r"|create|make a|need a reminder|don't forget|don't want to forget)\b")),
    ("list", re.compile(r"\b(?:what|list|read|show|tell me|give me|hear|check|recite|go th)")),
]  # fmt: skip
_ADD_ITEM = [
    re.compile(r"\b(?:remind(?:ed)?|reminder|remember|tell me later|forget)\b(?:\s+(?:me|for me))*"
               r"\s+(?:to|about|that|of)\s+(.+)"),
    re.compile(r"\b(?:add|put|include|note|insert|throw|tack on)\s+(.+?)\s+(?:to|on|onto|in)\s+"
               r"(?:my|the)\b"),
    re.compile(r"\b(?:add|put|include|note|insert|throw)\s+(.+)"),
]  # fmt: skip
_REMOVE_ITEM = [
    re.compile(r"\b(?:remove|delete|take|cross|drop|strike)\s+(?:off\s+)?(.+?)\s+"
               r"(?:off|from)\b"),
    re.compile(r"\b(?:don't|do not|no longer)\s+need\s+(.+?)(?:\s+(?:on|in)\s+(?:my|the)\b|"
               r"\s+anymore\b|$)"),
    re.compile(r"\b(?:remove|delete)\s+(.+)"),
]  # fmt: skip
_CHECK_ITEM = re.compile(
    r"^(?:is|are|did i (?:add|put)|have i (?:added|put|told you to add)|did you put|do i have|"
    r"does (?:my|the) \w+ list (?:have|contain))\s+(.+?)\s+(?:on|in|to)\s+(?:my|the)\b"
)
_TRIM = re.compile(
    r"^(?:a |an |the |to |that )|(?:\s+(?:please|too|also|as well|for me|for today|anymore|"
    r"if it's not already there|list))+$"
)


class ListStore:
    """Items of the three lists in one SQLite table (thread-safe, one connection)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = open_table(
                self.path, TABLE, {"id": int, "list": str, "text": str, "created": float}, pk="id"
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

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _clean(item: str) -> str:
    item = item.strip().strip("\"'“”?.!, ")
    for _ in range(3):
        item = _TRIM.sub("", item).strip().strip("\"'“”?.!, ")
    return item


def _match_item(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """The item named ``wanted``: its number ("2"), its exact text, or a word overlap."""
    if wanted.isdigit():
        n = int(wanted)
        return items[n - 1] if 0 < n <= len(items) else None
    w = wanted.lower()
    for item in items:
        if item["text"].lower() == w:
            return item
    for item in items:
        if w in item["text"].lower() or item["text"].lower() in w:
            return item
    return None


class RemindersAgent:
    """Answers reminder, to-do and shopping list intents from SQLite."""

    name = "reminders"

    def __init__(self, name: str = "reminders", *, data_dir: str | Path = ".", **_: Any):
        self.name = name
        self.store = ListStore(database_path(data_dir))

    def handle(self, turn: AgentTurn) -> AgentReply:
        if turn.intent == CANCEL_INTENT:
            return cancelled(self.name)
        text = turn.text.lower().replace("’", "'").strip()
        slots = turn.slots
        list_name = self._list(text, turn.intent, slots)
        if slots.get("pending") == "item" and not any(
            p.search(text) for _, p in _ACTIONS[:3]
        ):  # the answer to "What should I add?"
            return self._add(list_name, _clean(text))
        action = self._action(text, turn.intent)
        try:
            if action == "clear":
                n = self.store.clear(list_name)
                return AgentReply(
                    reply=f"Cleared your {LISTS[list_name]} ({n} item{'s' * (n != 1)}).",
                    slots={"list": list_name},
                    data={"list": list_name, "action": "clear", "removed": n},
                )
            if action == "remove":
                return self._remove(list_name, text)
            if action == "check":
                return self._check(list_name, text)
            if action == "add":
                item = next((m.group(1) for p in _ADD_ITEM if (m := p.search(text))), "")
                return self._add(list_name, _clean(item))
            return self._list_items(list_name)
        except sqlite3.Error as exc:
            raise TargetError(f"list database error: {exc}", target=self.name) from exc

    def _list(self, text: str, intent: str, slots: Any) -> str:
        """A list named in words ("todo list"), else the intent's, else a hint, else the last."""
        for name, pattern in _NAMED_LIST:
            if pattern.search(text):
                return name
        if intent in _INTENT_LISTS:
            return _INTENT_LISTS[intent][0]
        for name, pattern in _LIST_WORDS:
            if pattern.search(text):
                return name
        return str(slots.get("list", "reminders"))

    def _action(self, text: str, intent: str) -> str:
        """What to do: the intent says read or change; the words say which change."""
        kind = _INTENT_LISTS.get(intent, ("", ""))[1]
        allowed = {"list": ("check", "list"), "add": ("clear", "remove", "add")}.get(
            kind, tuple(a for a, _ in _ACTIONS)
        )
        for action, pattern in _ACTIONS:
            if action in allowed and pattern.search(text):
                return action
        return kind or "list"

    def _add(self, list_name: str, item: str) -> AgentReply:
        if not item or item in ("something", "do something", "a reminder", "reminder", "it"):
            what = "remind you about" if list_name == "reminders" else "add"
            return AgentReply(
                reply=f"What should I {what}?",
                state="need_input",
                slots={"list": list_name, "pending": "item"},
                data={"list": list_name, "action": "add"},
            )
        existing = next(
            (i for i in self.store.items(list_name) if i["text"].lower() == item.lower()), None
        )
        if existing is not None:
            return AgentReply(
                reply=f'"{item}" is already on your {LISTS[list_name]}.',
                slots={"list": list_name},
                data={"list": list_name, "action": "add", "id": existing["id"], "text": item},
            )
        item_id = self.store.add(list_name, item)
        return AgentReply(
            reply=f'Added "{item}" to your {LISTS[list_name]}.',
            slots={"list": list_name},
            data={"list": list_name, "action": "add", "id": item_id, "text": item},
        )

    def _remove(self, list_name: str, text: str) -> AgentReply:
        wanted = _clean(next((m.group(1) for p in _REMOVE_ITEM if (m := p.search(text))), ""))
        items = self.store.items(list_name)
        found = _match_item(items, wanted) if wanted else None
        if found is None:
            shown = f'"{wanted}"' if wanted else "that"
            return AgentReply(
                reply=f"I can't find {shown} on your {LISTS[list_name]}. "
                + _enumerate(list_name, items),
                slots={"list": list_name},
                data={"list": list_name, "action": "remove", "error": "not found"},
            )
        self.store.remove(list_name, int(found["id"]))
        return AgentReply(
            reply=f'Removed "{found["text"]}" from your {LISTS[list_name]}.',
            slots={"list": list_name},
            data={"list": list_name, "action": "remove", "id": found["id"], "text": found["text"]},
        )

    def _check(self, list_name: str, text: str) -> AgentReply:
        m = _CHECK_ITEM.search(text)
        if not m:
            return self._list_items(list_name)
        wanted = _clean(m.group(1))
        found = _match_item(self.store.items(list_name), wanted)
        answer = "Yes" if found else "No"
        where = "is" if found else "is not"
        return AgentReply(
            reply=f'{answer}, "{wanted}" {where} on your {LISTS[list_name]}.',
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


def _enumerate(list_name: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return f"Your {LISTS[list_name]} is empty."
    lines = "; ".join(f"{n}. {i['text']}" for n, i in enumerate(items, 1))
    return f"Your {LISTS[list_name]}: {lines}."
