from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import ChromiumBinary, HeadlessChromium, chromium_binary, headless_chromium
from support.pdf import PopplerTools, poppler_tools
from support.servers import running_aggregator

from aggregator.server import RunningServer


@pytest.fixture
def aggregator(tmp_path: Path) -> Iterator[RunningServer]:
    with running_aggregator(tmp_path / "agg.db") as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> ChromiumBinary:
    """Session scope: read before the root conftest clears FEDGOV_* for each test."""
    return chromium_binary()


@pytest.fixture(scope="session")
def poppler() -> PopplerTools:
    return poppler_tools()


@pytest.fixture(scope="module")
def browser(chromium: ChromiumBinary) -> Iterator[HeadlessChromium]:
    """Headless Chromium (Debian's), one per test module."""
    with headless_chromium(chromium.require()) as running:
        yield running
