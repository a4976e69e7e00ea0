"""`fedgov dashboard` against a real mTLS aggregator holding reports of three silos.

The dashboard runs on port 0 with the auditor's certificate (and, for the
scoping attack, a silo's); pages are fetched over HTTP as a client would, and
opened in headless Chromium (Debian's ``chromium``, driven by playwright) as a
person would look at them.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.pki import make_pki, mtls_aggregator, tls_files
from support.ports import free_port
from support.reports import report_ending
from support.specs import stats_of

from aggregator.dashboard import Dashboard, OutboxBacklog, RunningDashboard, create_dashboard
from aggregator.query_client import QueryClient
from aggregator.reports.document import has_valid_hash
from aggregator.server import RunningServer
from fedgov.decision import Decision
from fedgov.errors import ConfigError
from fedgov.metrics import compute_metrics
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.tls import channel_credentials
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire import report_to_proto

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-the-dashboard-tests"
DAY_MS = 86_400_000
# silo -> (drift, bias, the decision its latest report carries)
SILOS = {
    "EU-DE": (1.0, 0.0, Decision(allow=True, warn=("income drifted",))),
    "EU-FR": (0.0, 0.0, Decision(allow=True)),
    "US-NY": (0.0, 0.2, Decision(allow=False, deny=("impact ratio below 0.8",))),
}
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Federation:
    aggregator: RunningServer
    pki: Path
    address: str


def _submit(address: str, pki: Path, spec: MonitoringSpec) -> None:
    """Two windows a day apart from each silo, sent with the silo's own certificate."""
    now = int(time.time() * 1000)
    for i, (silo, (drift, bias, decision)) in enumerate(SILOS.items()):
        creds = channel_credentials(tls_files(pki, silo))
        with grpc_channel(address, creds) as stub:
            for w, end in enumerate((now - 2 * DAY_MS, now - DAY_MS)):
                cols = credit_data(800, seed=10 * i + w, drift=drift * w, bias=bias)
                stats = stats_of(spec, cols)
                report = report_ending(
                    spec,
                    stats,
                    f"{silo}-w{w}",
                    silo,
                    end,
                    metrics=compute_metrics(spec, stats),
                    decision=decision if w else Decision(allow=True),
                )
                stub.SubmitReport(
                    pb.SubmitReportRequest(report=report_to_proto(report)), timeout=10
                )


@contextmanager
def grpc_channel(address: str, creds: object) -> Iterator[aggregator_pb2_grpc.AggregatorStub]:
    import grpc

    with grpc.secure_channel(address, creds) as channel:  # type: ignore[arg-type]
        yield aggregator_pb2_grpc.AggregatorStub(channel)


@pytest.fixture
def federation(tmp_path: Path, credit_spec: MonitoringSpec) -> Iterator[Federation]:
    pki = make_pki(tmp_path / "pki", {s: s for s in SILOS})
    with mtls_aggregator(tmp_path, pki, credit_spec, {s: s for s in SILOS}) as running:
        address = f"127.0.0.1:{running.port}"
        _submit(address, pki, credit_spec)
        yield Federation(running, pki, address)


@contextmanager
def dashboard(
    fed: Federation, identity: str, backlog: OutboxBacklog | None = None
) -> Iterator[RunningDashboard]:
    client = QueryClient(fed.address, tls=tls_files(fed.pki, identity), retry_for=0.5)
    role = "silo" if identity in SILOS else identity
    view = Dashboard(
        client,
        role=role,
        viewer=f"{role} {identity}",
        stale_after_ms=3_600_000,
        backlog=backlog,
    )
    running = create_dashboard("127.0.0.1:0", view, TOKEN)
    try:
        yield running
    finally:
        running.stop()
        client.close()


def get(url: str, *, token: str | None = TOKEN, method: str = "GET") -> tuple[int, str, dict]:
    req = urllib.request.Request(url, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode(), dict(err.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kw: object) -> None:
        return None


def _cells(html: str) -> dict[str, str]:
    """jurisdiction column -> the decision its cell shows, in the matrix's one model row."""
    header = re.findall(r"<th>([A-Z]{2}-[A-Z]{2})</th>", html)
    states = re.findall(r'data-decision="(\w+)"', html)
    return dict(zip(header, states, strict=True))


def test_without_the_token_nothing_is_shown(federation: Federation) -> None:
    with dashboard(federation, "auditor") as d:
        for path in ("", "silos", "jobs", "model/credit-risk", "reports/credit-risk/summary.json"):
            for token in (None, "wrong-token-wrong-token", TOKEN[:-1]):
                status, body, headers = get(d.url + path, token=token)
                assert status == 401, (path, token)
                assert "Bearer" in headers["WWW-Authenticate"]
                assert not any(s in body for s in SILOS) and "credit-risk" not in body
        status, body, _ = get(d.url + "?token=nope")
        assert status == 401 and "EU-DE" not in body
        status, body, _ = get(d.url + "healthz", token=None)
        assert status == 200 and body.strip() == '{"status":"ok"}'
        for method in ("POST", "PUT", "DELETE"):
            assert get(d.url, method=method)[0] == 405


def test_a_token_login_sets_a_strict_cookie_that_opens_the_pages(federation: Federation) -> None:
    with dashboard(federation, "auditor") as d:
        status, _, headers = get(d.url + f"silos?token={TOKEN}", token=None)
        assert status == 303 and headers["Location"] == "/silos"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        req = urllib.request.Request(d.url + "silos", headers={"Cookie": cookie.split(";")[0]})
        with urllib.request.urlopen(req, timeout=20) as resp:
            assert resp.status == 200 and "US-NY" in resp.read().decode()


def test_the_auditor_sees_every_jurisdiction_and_its_latest_decision(
    federation: Federation,
) -> None:
    with dashboard(federation, "auditor") as d:
        status, html, headers = get(d.url)
        assert status == 200 and "script-src" not in headers["Content-Security-Policy"]
        assert _cells(html) == {"EU-DE": "warn", "EU-FR": "allow", "US-NY": "deny"}
        assert "impact ratio below 0.8" in html and 'href="/model/credit-risk"' in html

        status, html, _ = get(d.url + "model/credit-risk")
        assert status == 200
        assert all(s in html for s in SILOS)
        for kind in ("selection_rates", "fairness_over_time", "drift_heatmap", "timeline"):
            assert f'data-plot="{kind}"' in html, kind
        assert html.count("<svg") >= 4  # drawn by the reports' plotting module
        assert "Traceback" not in html

        status, html, _ = get(d.url + "silos")
        assert status == 200 and all(s in html for s in SILOS)
        assert "backlog: not configured" in html and "stale" not in re.sub(
            r"<style.*?</style>", "", html, flags=re.S
        ).replace("stale when", "")

        assert get(d.url + "model/no-such-model")[0] == 404
        assert get(d.url + "model/..%2F..%2Fetc")[0] == 404
        status, body, headers = get(d.url + "reports/credit-risk/nyc-ll144.json")
        assert status == 200 and "attachment" in headers["Content-Disposition"], body
        report = json.loads(body)  # the same document `fedgov report` writes
        assert report["regime"] == "nyc-ll144" and has_valid_hash(report)
        status, html, _ = get(d.url + "reports/credit-risk/colorado.html")
        assert status == 400 and "--model-card" in html  # says what it needs, no traceback
        assert get(d.url + "reports/credit-risk/made-up.pdf")[0] == 404


def test_a_silo_certificate_never_shows_another_silos_data(federation: Federation) -> None:
    others = ("EU-FR", "US-NY")
    with dashboard(federation, "EU-DE") as d:
        for path in ("", "model/credit-risk", "silos", "jobs"):
            status, html, _ = get(d.url + path)
            assert status == 200, (path, html)
            assert "EU-DE" in html or path == "jobs", path
            leaked = [o for o in others if o in html]
            assert not leaked, f"/{path} shows {leaked}"
        status, html, _ = get(d.url + "reports/credit-risk/summary.json")
        assert status == 403 and "US-NY" not in html
        _, html, _ = get(d.url + "model/credit-risk")
        assert "operator or auditor only" in html


def test_the_aggregator_down_is_a_503_page_and_the_dashboard_keeps_serving(
    federation: Federation,
) -> None:
    with dashboard(federation, "auditor") as d:
        assert get(d.url)[0] == 200
        federation.aggregator.stop(grace=0.5)
        for path in ("", "silos", "model/credit-risk"):
            status, html, _ = get(d.url + path)
            assert status == 503, (path, html)
            assert "Start the aggregator" in html and "Traceback" not in html
        assert get(d.url + "healthz", token=None)[0] == 200


def test_the_command_creates_a_private_token_and_prints_its_url(
    tmp_path: Path, federation: Federation
) -> None:
    token_file = tmp_path / "dash.token"
    cmd = [
        sys.executable,
        "-m",
        "fedgov",
        "dashboard",
        "--listen",
        "127.0.0.1:0",
        "--aggregator",
        federation.address,
        "--tls-dir",
        str(federation.pki),
        "--identity",
        "auditor",
        "--token-file",
        str(token_file),
        "--json",
    ]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        import json

        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] and lines[-1].rstrip() != "}":  # --json prints one indented object
            lines.append(proc.stdout.readline())
        started = json.loads("".join(lines))
        assert started["token_created"] and started["viewer"] == "auditor 'auditor'"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        status, html, _ = get(started["url"], token=token)
        assert status == 200 and "US-NY" in html
        assert get(started["url"], token=None)[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_pages_render_in_a_browser(federation: Federation) -> None:
    """Minimal playwright driving (tests/support/browser.py from the report work is not
    merged yet): screenshot not blank, no console errors, key figures in the DOM."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with dashboard(federation, "auditor") as d, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(d.url + f"?token={TOKEN}")  # the login redirects to / with a cookie
            assert page.url == d.url
            cell = page.locator("#matrix td[data-decision=deny]")
            assert cell.count() == 1 and "US-NY" in cell.inner_text()
            shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
            assert len(shot.getcolors(1 << 20) or []) > 8, "the home page looks blank"

            page.goto(d.url + "model/credit-risk")
            text = page.locator("main").inner_text()
            assert "EU-DE" in text and "deny" in text
            assert page.locator("figure.plot").count() >= 4
            shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
            assert len(shot.getcolors(1 << 20) or []) > 8, "the model page looks blank"
            assert errors == []
        finally:
            browser.close()


def test_the_outbox_backlog_comes_from_a_real_prometheus(
    tmp_path: Path, federation: Federation
) -> None:
    """Agents' metrics (the outbox gauge) scraped by Debian's Prometheus; the silos page
    reads each silo's backlog, and a silo certificate sees only its own."""
    import yaml
    from prometheus_client import CollectorRegistry, start_http_server

    from agent.exporter import AgentMetrics

    binary = Path(os.environ.get("FEDGOV_PROMETHEUS_BIN") or "/usr/bin/prometheus")
    if not binary.exists():
        pytest.skip("the prometheus binary is missing: apt-get install -y prometheus")
    exporters = []
    for silo, waiting in (("EU-DE", 3), ("US-NY", 11)):  # one agent, one registry each
        registry = CollectorRegistry()
        AgentMetrics(silo, silo, registry).outbox.set(waiting)
        exporters.append(start_http_server(0, "127.0.0.1", registry=registry))
    prom_port = free_port()
    targets = [f"127.0.0.1:{server.server_port}" for server, _ in exporters]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "agents", "static_configs": [{"targets": targets}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("w")
    prom = subprocess.Popen(
        [
            str(binary),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        backlog = OutboxBacklog(f"http://127.0.0.1:{prom_port}")
        deadline = time.monotonic() + 60
        counts: dict[str, int] = {}
        while time.monotonic() < deadline and len(counts) < 2:
            try:
                counts = backlog.per_silo()
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            time.sleep(0.5)
        assert counts == {"EU-DE": 3, "US-NY": 11}, (tmp_path / "prometheus.log").read_text()[
            -2000:
        ]
        for identity, shown, hidden in (("auditor", ["3", "11"], []), ("EU-DE", ["3"], ["11"])):
            with dashboard(federation, identity, backlog=backlog) as d:
                _, html, _ = get(d.url + "silos")
                cells = re.findall(r"<td>(\d+|not scraped)</td></tr>", html)
                assert sorted(c for c in cells if c.isdigit()) == sorted(shown), (identity, html)
                assert not any(h in cells for h in hidden)
                assert "not configured" not in html
    finally:
        prom.terminate()
        prom.wait(timeout=20)
        log.close()
        for server, thread in exporters:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_http_tls_serves_https_with_the_certificate_files(federation: Federation) -> None:
    import ssl

    files = tls_files(federation.pki, "auditor")
    served = tls_files(federation.pki, "aggregator")  # a server certificate for 127.0.0.1
    with QueryClient(federation.address, tls=files, retry_for=0.5) as client:
        view = Dashboard(client, role="auditor", viewer="auditor", stale_after_ms=1)
        with pytest.raises(ConfigError, match="clients only"):
            create_dashboard("127.0.0.1:0", view, TOKEN, tls=files)
        running = create_dashboard("127.0.0.1:0", view, TOKEN, tls=served)
        try:
            assert running.url.startswith("https://")
            context = ssl.create_default_context(cafile=str(files.ca))
            req = urllib.request.Request(
                running.url + f"?token={TOKEN}", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            opener = urllib.request.build_opener(
                urllib.request.HTTPSHandler(context=context), _NoRedirect
            )
            try:
                opener.open(req, timeout=20)
            except urllib.error.HTTPError as err:
                with err:
                    assert err.code == 303 and "; Secure" in err.headers["Set-Cookie"]
            # plaintext HTTP is not answered
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(running.url.replace("https", "http"), timeout=5)
        finally:
            running.stop()
