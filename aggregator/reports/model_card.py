"""The model card a user hands to ``fedgov report --model-card FILE``: what the model is for.

A YAML (or JSON) file, validated like every other config (:func:`fedgov.schema.validate`:
unknown keys refused, strict types, errors naming the file and the key path)::

    owner: Credit Risk Team, Example Bank
    purpose: score consumer credit applications
    intended_use: a first-line decision aid; a person reviews every decline
    contact: credit-risk@example.org
    out_of_scope_uses: [employment decisions, insurance pricing]   # optional
    known_limitations:                                             # optional
      - trained on applicants aged 18 to 90
    deployment_context: retail branches in DE, FR, IT and NY      # optional
    data_sources: [loan applications 2019-2024]                    # optional

The Colorado impact assessment (SB 24-205) reads purpose, deployment context,
intended use, known limitations, owner and contact from it; nothing in it is
a figure, so a report's numbers never depend on the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from fedgov.documents import load_document
from fedgov.schema import StrictModel, validate

__all__ = ["ModelCard", "load_model_card"]

Text = Annotated[str, Field(min_length=1)]


class ModelCard(StrictModel):
    """A whole model card file."""

    owner: Text
    purpose: Text
    intended_use: Text
    contact: Text
    out_of_scope_uses: list[Text] = []
    known_limitations: list[Text] = []
    deployment_context: Text | None = None
    data_sources: list[Text] = []


def load_model_card(path: str | Path) -> ModelCard:
    """Read and validate a model card; any problem is a :class:`ConfigError` (exit code 2)
    naming the file, the key path and what to do."""
    p = Path(path)
    doc = load_document(p, what="model card")
    return validate(ModelCard, doc, source=str(p))
