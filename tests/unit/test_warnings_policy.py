"""The pytest warnings policy (pyproject.toml): ours are errors, third-party ones are shown."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str, category: type[Warning]) -> None:
    # warnings attributes a warning to the module named by the calling frame's __name__
    exec(
        "warnings.warn('probe', category)",
        {"__name__": module, "warnings": warnings, "category": category},
    )


@pytest.mark.parametrize("module", ["fedgov.stats._probe", "agent.service", "aggregator.handler"])
def test_a_warning_from_our_code_is_an_error(module: str) -> None:
    with pytest.raises(UserWarning, match="probe"):
        _warn_from(module, UserWarning)


def test_a_third_party_deprecation_is_shown_not_fatal() -> None:
    with warnings.catch_warnings(record=True) as seen:
        _warn_from("click.utils", DeprecationWarning)
    assert [str(w.message) for w in seen] == ["probe"]


def test_a_third_party_runtime_warning_is_shown_not_fatal() -> None:
    with warnings.catch_warnings(record=True) as seen:
        _warn_from("somelib.core", RuntimeWarning)
    assert len(seen) == 1
