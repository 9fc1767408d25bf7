"""Privacy rules: which classes of sensitive text a query contains.

A query that matches any rule may only run on the device; the decision log
uses the same rules to redact what it stores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..config import PrivacyRule


class PrivacyRules:
    """Compiled privacy rules from the config's ``[[policy.privacy]]``."""

    def __init__(self, rules: Sequence[PrivacyRule]):
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        for rule in rules:
            parts = [rule.regex] if rule.regex else []
            parts += [r"\b" + re.escape(k) + r"\b" for k in rule.keywords]
            self._rules.append((rule.name, re.compile("|".join(parts), re.IGNORECASE)))

    def classes(self, *texts: str) -> tuple[str, ...]:
        """Names of the rules any of the texts matches, in config order."""
        return tuple(name for name, pattern in self._rules if any(pattern.search(t) for t in texts))

    def redact(self, text: str) -> str:
        """The text with every match replaced by ``[name]``."""
        for name, pattern in self._rules:
            text = pattern.sub(f"[{name}]", text)
        return text
