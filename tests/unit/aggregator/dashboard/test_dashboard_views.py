"""What each page asks the aggregator, by the certificate's role, and how it is shown."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.answers import DecisionRow, SiloRow
from aggregator.dashboard.render import Renderer
from aggregator.dashboard.views import Dashboard, latest_decisions, worst
from fedgov.errors import QueryError

MERGED = {"fairness", "models", "jobs", "central"}


def _decision(silo: str, t: int, allow: bool = True, warn: tuple[str, ...] = ()) -> DecisionRow:
    return DecisionRow(silo, silo, "m", "1", allow, () if allow else ("no",), warn, (), t, f"r{t}")


class Recording:
    """Answers like the aggregator scoped to silo A; records every query asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def ask(*_: Any, **__: Any) -> Any:
            self.asked.append(name)
            if name == "decisions":
                return [_decision("A", 1, allow=False), _decision("A", 2, warn=("w",))]
            if name == "silos":
                return [SiloRow("A", "A", 0, 5, ("m/1",), "sha256:b")]
            if name in ("drift", "models", "jobs", "central"):
                return []
            raise QueryError(f"{name}: permission denied: <b>not yours</b>")

        return ask


def _pages(d: Dashboard) -> None:
    d.home()
    d.model("m")
    d.silos()
    d.jobs()


def test_a_silo_dashboard_never_asks_for_merged_figures() -> None:
    source = Recording()
    _pages(Dashboard(source, role="silo", viewer="silo A", stale_after_ms=1))
    assert source.asked and not MERGED & set(source.asked)
    operator = Recording()
    _pages(Dashboard(operator, role="operator", viewer="operator", stale_after_ms=1))
    assert MERGED <= set(operator.asked)


def test_a_refused_optional_query_is_a_note_and_the_page_still_shows() -> None:
    page = Dashboard(Recording(), role="auditor", viewer="auditor", stale_after_ms=1).model("m")
    assert page.status == 200
    assert any("permission denied" in n for n in page.context["notes"])
    html = Renderer(viewer="auditor", regimes=(), formats=()).page(page.template, page.context)
    assert b"&lt;b&gt;not yours&lt;/b&gt;" in html and b"<b>not yours" not in html


def test_the_latest_decision_per_silo_and_the_worst_per_cell() -> None:
    rows = latest_decisions([_decision("A", 2, warn=("w",)), _decision("A", 1, allow=False)])
    assert [r.window_end_ms for r in rows] == [2]
    assert worst(["allow", "warn"]) == "warn" and worst(["warn", "deny"]) == "deny"
    assert worst([]) == "none"


@pytest.mark.parametrize(("last_seen", "stale"), [(9_000, False), (1_000, True)])
def test_a_silo_silent_longer_than_stale_after_is_stale(last_seen: int, stale: bool) -> None:
    source = Recording()
    source.silos = lambda **_: [SiloRow("A", "A", 0, last_seen, (), "")]  # type: ignore[method-assign]
    d = Dashboard(source, role="auditor", viewer="a", stale_after_ms=5_000, clock=lambda: 10.0)
    page = d.silos()
    assert [s["stale"] for s in page.context["silos"]] == [stale]
    assert "not configured" in page.context["backlog_note"]
