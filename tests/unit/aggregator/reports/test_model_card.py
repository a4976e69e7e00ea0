"""The model card file: validated like every config, errors name file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.reports.model_card import ModelCard, load_model_card
from fedgov.errors import ConfigError

CARD = """\
owner: Credit Risk Team
purpose: score consumer credit applications
intended_use: a first-line decision aid; a person reviews every decline
contact: credit-risk@example.org
known_limitations:
  - trained on applicants aged 18 to 90
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "card.yaml"
    p.write_text(text)
    return p


def test_a_valid_card_loads(tmp_path: Path) -> None:
    card = load_model_card(_write(tmp_path, CARD))
    assert card == ModelCard(
        owner="Credit Risk Team",
        purpose="score consumer credit applications",
        intended_use="a first-line decision aid; a person reviews every decline",
        contact="credit-risk@example.org",
        known_limitations=["trained on applicants aged 18 to 90"],
    )
    assert card.deployment_context is None and card.out_of_scope_uses == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            CARD.replace("contact: credit-risk@example.org\n", ""),
            "contact: required key is missing",
        ),
        (CARD.replace("owner:", "ownr:"), "ownr: unknown key (did you mean 'owner'?)"),
        (CARD + "data_sources: loans\n", "data_sources: must be a list"),
        (CARD + "  - 42\n", "known_limitations[1]: must be a string"),
        (
            CARD.replace("purpose: score consumer credit applications", "purpose: ''"),
            "purpose: must not be empty",
        ),
    ],
    ids=["missing", "unknown", "not-a-list", "wrong-item-type", "empty"],
)
def test_errors_name_the_file_and_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_model_card(path)
    assert f"{path}: {expected}" in str(err.value)
    assert err.value.exit_code == 2
    assert "pydantic" not in str(err.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="card.yaml: model card not found"):
        load_model_card(tmp_path / "card.yaml")
