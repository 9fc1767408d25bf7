from __future__ import annotations

from edge_moma.config import PrivacyRule, default_config_path, load_config
from edge_moma.routing.privacy import PrivacyRules


def test_default_rules_find_emails_cards_and_health_terms() -> None:
    rules = PrivacyRules(load_config(default_config_path()).policy.privacy)
    assert rules.classes("write to jane.doe@example.com") == ("email",)
    assert rules.classes("card 4111 1111 1111 1111 expires soon") == ("card_number",)
    assert rules.classes("my Diagnosis came back") == ("health",)
    assert rules.classes("what's 15% of 80") == ()
    assert rules.classes("therapyland") == ()  # keywords match whole words only


def test_redact_replaces_every_match() -> None:
    rules = PrivacyRules(
        [
            PrivacyRule(name="email", regex=r"\S+@\S+"),
            PrivacyRule(name="secret", keywords=["password"]),
        ]
    )
    assert rules.redact("mail a@b.c my password") == "mail [email] my [secret]"
