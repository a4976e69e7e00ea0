"""``silo.yaml``: strict schema, every shipped example valid, errors by file and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import run_fedgov

import agent.config
from agent.config import AgentConfig, config_from_dict, load_agent_config
from agent.privacy import PrivacySettings
from fedgov.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]

MINIMAL = """\
silo: {id: EU-DE, jurisdiction: EU-DE}
aggregator: {address: 127.0.0.1:50051, insecure: true}
policy: policy
models:
  - {spec: spec.json, input: in}
"""


GONE = object()


def _doc(**changes: Any) -> dict[str, Any]:
    """The minimal config with top-level keys replaced (GONE removes a key)."""
    doc: dict[str, Any] = yaml.safe_load(MINIMAL)
    for key, value in changes.items():
        if value is GONE:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def _error(doc: Any) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(doc, base=Path("/etc/fedgov"), source="silo.yaml")
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "pydantic" not in message and "Input should" not in message
    return message


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "silo.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- the examples we ship ------------------------------------------------------------------


def _docstring_example() -> str:
    doc = agent.config.__doc__ or ""
    return textwrap.dedent(doc.split("::\n", 1)[1].split("\nRelative paths")[0])


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split("An agent config (`silo.yaml`", 1)[1]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def _kubernetes_examples() -> list[str]:
    out = []
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        for part in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if part and part.get("kind") == "ConfigMap" and "silo.yaml" in part.get("data", {}):
                out.append(part["data"]["silo.yaml"])
    return out


EXAMPLES = {
    "agent/config.py docstring": _docstring_example(),
    "README.md": _readme_example(),
    "deploy/systemd/silo.example.yaml": (ROOT / "deploy/systemd/silo.example.yaml").read_text(),
    **{f"deploy/kubernetes ConfigMap {i}": t for i, t in enumerate(_kubernetes_examples())},
}


def test_the_examples_were_found() -> None:
    assert sum(name.startswith("deploy/kubernetes") for name in EXAMPLES) == 2
    assert all("silo:" in text for text in EXAMPLES.values())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_shipped_example_validates(tmp_path: Path, name: str) -> None:
    cfg = load_agent_config(_write(tmp_path, EXAMPLES[name]))
    assert cfg.silo_id and cfg.models and cfg.tls is not None and not cfg.insecure


def test_docstring_example_reads_as_documented(tmp_path: Path) -> None:
    cfg = load_agent_config(_write(tmp_path, _docstring_example()))
    assert cfg.tls is not None and cfg.tls.ca == tmp_path / "certs" / "ca.pem"
    assert cfg.retry_seconds == 30.0 and cfg.metrics_port == 9464
    assert cfg.training_data == tmp_path / "train.parquet"
    assert cfg.holdout == tmp_path / "holdout.parquet"
    assert cfg.opa_url == "http://127.0.0.1:8181"
    assert (cfg.min_cell_count, cfg.epsilon, cfg.complementary) == (0, None, False)
    assert (cfg.rho, cfg.budget, cfg.delta, cfg.secure_aggregation) == (0.05, 5.0, 1e-6, True)


# -- what a valid file gives ---------------------------------------------------------------


def test_minimal_config_takes_the_dataclass_defaults(tmp_path: Path) -> None:
    cfg = load_agent_config(_write(tmp_path, MINIMAL))
    defaults = AgentConfig(
        silo_id="EU-DE",
        jurisdiction="EU-DE",
        aggregator_address="127.0.0.1:50051",
        policy=tmp_path / "policy",
        state_dir=tmp_path / "state",
        models=(agent.config.ModelInput(tmp_path / "spec.json", tmp_path / "in"),),
        insecure=True,
    )
    assert cfg == defaults


def test_relative_paths_follow_the_config_file_absolute_ones_stay(tmp_path: Path) -> None:
    doc = _doc(policy="/srv/policy", training={"data": "t.parquet"})
    cfg = config_from_dict(doc, base=tmp_path)
    assert cfg.policy == Path("/srv/policy")
    assert cfg.models[0].spec == tmp_path / "spec.json"
    assert cfg.training_data == tmp_path / "t.parquet" and cfg.holdout is None


def test_insecure_true_without_tls_is_accepted() -> None:
    cfg = config_from_dict(_doc(), base=Path("/"))
    assert cfg.insecure is True and cfg.tls is None


def test_an_int_is_accepted_where_a_float_is_expected() -> None:
    doc = _doc(poll_seconds=5, privacy={"rho": None, "epsilon": 1, "min_cell_count": 0})
    cfg = config_from_dict(doc, base=Path("/"))
    assert cfg.poll_seconds == 5.0 and isinstance(cfg.poll_seconds, float)
    assert cfg.epsilon == 1.0 and isinstance(cfg.epsilon, float)
    assert cfg.min_cell_count == 0


def test_an_empty_section_keeps_its_defaults(tmp_path: Path) -> None:
    cfg = load_agent_config(_write(tmp_path, MINIMAL + "privacy:\n  # epsilon: 1.0\ntraining:\n"))
    assert (cfg.min_cell_count, cfg.epsilon, cfg.training_data) == (0, None, None)
    assert cfg.privacy == PrivacySettings()  # the discrete Gaussian default


# -- what is refused, and what the message says --------------------------------------------


def test_unknown_nested_key_suggests_the_close_one() -> None:
    message = _error(_doc(privacy={"min_cel_count": 0}))
    assert message == (
        "silo.yaml: privacy.min_cel_count: unknown key (did you mean 'min_cell_count'?); "
        "allowed: budget, candidate_rho, complementary, delta, epsilon, min_cell_count, rho"
    )


def test_unknown_key_in_a_list_item_and_at_the_top() -> None:
    doc = _doc(models=[{"spec": "s", "input": "i"}, {"spec": "s", "inptu": "i"}], frobnicate=1)
    lines = _error(doc).splitlines()
    assert "silo.yaml: models[1].input: required key is missing" in lines
    assert any(
        line.startswith("silo.yaml: models[1].inptu: unknown key (did you mean 'input'?)")
        for line in lines
    )
    (top,) = [line for line in lines if "frobnicate" in line]
    assert "did you mean" not in top and "allowed: aggregator, chunk_rows," in top


@pytest.mark.parametrize("value", ["false", "yes", "true", 0, None])
def test_insecure_must_be_a_real_boolean(value: object) -> None:
    message = _error(_doc(aggregator={"address": "a:1", "insecure": value}))
    assert message.startswith(
        "silo.yaml: aggregator.insecure: must be true or false (a YAML boolean, unquoted), got "
    )
    if isinstance(value, str):
        assert message.endswith(f"got the string '{value}'")


def test_quoted_false_in_a_file_is_refused_not_read_as_true(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("insecure: true", "insecure: 'false'"))
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert str(info.value) == (
        f"{path}: aggregator.insecure: must be true or false (a YAML boolean, unquoted), "
        "got the string 'false'"
    )


def test_mtls_is_the_default_and_excludes_insecure() -> None:
    tls = {"ca": "ca.pem", "cert": "s.pem", "key": "s.key"}
    assert "fedgov certs init" in _error(_doc(aggregator={"address": "a:1"}))
    both = _error(_doc(aggregator={"address": "a:1", "insecure": True, "tls": tls}))
    assert both == "silo.yaml: aggregator: set either tls or insecure: true, not both"
    partial = _error(_doc(aggregator={"address": "a:1", "tls": {"ca": "ca.pem"}}))
    assert "aggregator.tls.cert: required key is missing" in partial
    cfg = config_from_dict(_doc(aggregator={"address": "a:1", "tls": tls}), base=Path("/e"))
    assert cfg.tls is not None and cfg.tls.key == Path("/e/s.key") and not cfg.insecure


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"poll_seconds": "5"}, "poll_seconds: must be a number, got the string '5'"),
        ({"chunk_rows": 2.5}, "chunk_rows: must be a whole number, got the number 2.5"),
        ({"metrics_port": "9464"}, "metrics_port: must be a whole number, got the string '9464'"),
        ({"metrics_port": True}, "metrics_port: must be a whole number, got the boolean true"),
        ({"privacy": {"min_cell_count": "10"}}, "privacy.min_cell_count: must be a whole number"),
        ({"privacy": {"epsilon": "1e-3"}}, "write 1.0e-3 or 0.001"),
        ({"silo": {"id": 42, "jurisdiction": "X"}}, "silo.id: must be a string, got the number"),
    ],
)
def test_a_string_is_not_a_number_nor_a_number_a_string(
    changes: dict[str, Any], expected: str
) -> None:
    assert expected in _error(_doc(**changes))


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"metrics_port": 65536}, "metrics_port: must be 65535 or less, got 65536"),
        ({"metrics_port": -1}, "metrics_port: must be 0 or more, got -1"),
        ({"poll_seconds": 0}, "poll_seconds: must be greater than 0, got 0"),
        ({"chunk_rows": 0}, "chunk_rows: must be greater than 0, got 0"),
        ({"privacy": {"min_cell_count": -1}}, "privacy.min_cell_count: must be 0 or more"),
        ({"privacy": {"epsilon": 0}}, "privacy.epsilon: must be greater than 0, got 0"),
        ({"privacy": {"rho": 0}}, "privacy.rho: must be greater than 0, got 0"),
        ({"privacy": {"budget": -1}}, "privacy.budget: must be greater than 0, got -1"),
        ({"privacy": {"delta": 1}}, "privacy.delta: must be less than 1, got 1"),
        ({"secure_rounds": {"enabled": "yes"}}, "secure_rounds.enabled: must be"),
        ({"privacy": {"epsilon": 1}}, "privacy: rho (discrete Gaussian, the default) and epsilon"),
        (
            {"privacy": {"rho": 0.5, "budget": 0.9}},
            "privacy: one window costs 1 (rho x 2 with secure_rounds.enabled) but budget is 0.9",
        ),
        (
            {"privacy": {"rho": 0.5, "budget": 0.4}, "secure_rounds": {"enabled": False}},
            "privacy: one window costs 0.5 (rho) but budget is 0.4",
        ),
        ({"poll_seconds": float("inf")}, "poll_seconds: must be a finite number, got inf"),
        ({"models": []}, "models: must not be empty"),
        ({"policy": ""}, "policy: must not be empty"),
        ({"policy": GONE}, "policy: required key is missing"),
        ({"policy": None}, "policy: must be a string, got null"),
        ({"silo": None}, "silo: must be a mapping of keys to values, got null"),
        ({"models": {"spec": "s"}}, "models: must be a list, got a mapping"),
    ],
)
def test_ranges_and_required_keys(changes: dict[str, Any], expected: str) -> None:
    assert f"silo.yaml: {expected}" in _error(_doc(**changes))


def test_several_errors_are_listed_together_one_per_line() -> None:
    doc = _doc(
        aggregator={"address": "a:1", "insecure": "false"},
        privacy={"min_cel_count": 0},
        metrics_port=70000,
        models=[{"spec": "s", "input": "i"}, {"spec": "s"}],
    )
    lines = _error(doc).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "aggregator.insecure",
        "models[1].input",
        "metrics_port",
        "privacy.min_cel_count",
    ]
    assert all(line.startswith("silo.yaml: ") for line in lines)


# -- reading the file ----------------------------------------------------------------------


def test_a_file_that_is_not_utf8_names_line_and_offset(tmp_path: Path) -> None:
    raw = MINIMAL.encode().replace(b"EU-DE}", b"EU-D\xe9}", 1)
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    offset = raw.index(b"\xe9")
    assert str(info.value) == (
        f"{path}:1: not UTF-8 (byte 0xe9 at offset {offset}); save the config file as UTF-8"
    )


def test_a_deeply_nested_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "privacy: " + "[" * 10_000 + "]" * 10_000 + "\n")
    with pytest.raises(ConfigError, match=r"silo\.yaml:6: nested more than 64 levels deep"):
        load_agent_config(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "silo.yaml: the document is empty; it must be a mapping of keys to values"),
        ("- a\n- b\n", "silo.yaml: the document must be a mapping of keys to values, got a list"),
        ("silo: {id: [\n", "silo.yaml:2:1: not valid YAML"),
        (MINIMAL + "yes: 1\n", "silo.yaml: keys must be strings, got the boolean true"),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_agent_config(_write(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / expected))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_agent_config(tmp_path / "nope.yaml")


def test_cli_exits_2_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("insecure: true", "insecure: 'false'"))
    p = run_fedgov("agent", "run", "--config", str(path), "--once")
    assert p.returncode == 2, p.stderr
    assert f"{path}: aggregator.insecure: must be true or false" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("silo_id", ["EU DE", "EU/DE", "x" * 200])
def test_a_silo_id_the_aggregator_would_refuse_is_refused_when_read(silo_id: str) -> None:
    message = _error(_doc(silo={"id": silo_id, "jurisdiction": "EU-DE"}))
    assert "silo.yaml: silo.id: not a valid identifier" in message


# -- several aggregator replicas -----------------------------------------------------------
def _aggregator(**section: Any) -> dict[str, Any]:
    return _doc(aggregator={"insecure": True} | section)


def test_a_list_of_replicas_becomes_one_target_ordered_by_the_silo() -> None:
    replicas = ["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]
    cfg = config_from_dict(_aggregator(addresses=replicas), base=Path("/etc"))
    assert cfg.aggregator_address.startswith("ipv4:")
    assert sorted(cfg.aggregator_address[5:].split(",")) == replicas
    again = config_from_dict(_aggregator(addresses=replicas), base=Path("/etc"))
    assert again.aggregator_address == cfg.aggregator_address  # the same order every time
    firsts = set()
    for n in range(12):  # silos spread over the replicas
        doc = _aggregator(addresses=replicas) | {"silo": {"id": f"S{n}", "jurisdiction": "EU"}}
        firsts.add(config_from_dict(doc, base=Path("/etc")).aggregator_address[5:].split(",")[0])
    assert len(firsts) > 1
    v6 = config_from_dict(_aggregator(addresses=["[::1]:1", "[::2]:1"]), base=Path("/etc"))
    assert sorted(v6.aggregator_address[5:].split(",")) == ["[::1]:1", "[::2]:1"]


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"addresses": ["agg-1:50051", "10.0.0.2:50051"]}, "give IP:PORT"),
        ({"addresses": ["10.0.0.1:50051", "[::1]:50051"]}, "not a mix"),
        ({"addresses": ["10.0.0.1:1", "10.0.0.1:1"]}, "lists one twice"),
        ({"addresses": ["10.0.0.1:99999", "10.0.0.1:1"]}, "give IP:PORT"),
        ({"addresses": []}, "aggregator.addresses"),
        ({"address": "a:1", "addresses": ["10.0.0.1:1"]}, "one of the two"),
        ({"address": None}, "one of the two"),
        ({"address": "a:1", "server_name": "agg"}, "needs tls"),
    ],
)
def test_replica_addresses_that_cannot_work_are_refused(section: dict[str, Any], says: str) -> None:
    doc = _aggregator(**section)
    if section.get("address", "") is None:  # neither address nor addresses
        del doc["aggregator"]["address"]
    message = _error(doc)
    assert "silo.yaml" in message and "aggregator" in message and says in message, message


def test_server_name_travels_with_the_tls_files() -> None:
    tls = {"ca": "ca.pem", "cert": "s.pem", "key": "s.key"}
    doc = _doc(aggregator={"addresses": ["10.0.0.1:1", "10.0.0.2:1"], "tls": tls})
    doc["aggregator"]["server_name"] = "aggregator.example"
    cfg = config_from_dict(doc, base=Path("/etc"))
    assert cfg.tls is not None and cfg.tls.server_name == "aggregator.example"


def test_the_readme_replicas_example_validates() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Several aggregators", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    cfg = config_from_dict(_doc(**yaml.safe_load(block)), base=Path("/etc/fedgov"))
    assert cfg.aggregator_address.startswith("ipv4:10.0.0.")
    assert cfg.tls is not None and cfg.tls.server_name == "aggregator.example"


# -- Spark inputs ---------------------------------------------------------------------------
def _model(input: Any) -> dict[str, Any]:
    return _doc(models=[{"spec": "spec.json", "input": input}])


def test_a_spark_input_is_a_table_or_a_path_resolved_like_every_path(tmp_path: Path) -> None:
    from fedgov.data import SparkInput

    spark = {"engine": "spark", "path": "big", "master": "local[2]", "conf": {"b": "2", "a": "1"}}
    cfg = config_from_dict(_model(spark), base=tmp_path)
    assert cfg.models[0].input == SparkInput(
        path=str(tmp_path / "big"), master="local[2]", conf=(("a", "1"), ("b", "2"))
    )
    uri = config_from_dict(_model({"engine": "spark", "path": "s3a://b/t/"}), base=tmp_path)
    assert uri.models[0].input == SparkInput(path="s3a://b/t/", master="local[*]")
    table = config_from_dict(_model({"engine": "spark", "table": "db.t"}), base=tmp_path)
    assert table.models[0].input == SparkInput(table="db.t")
    assert config_from_dict(_model("in"), base=tmp_path).models[0].input == tmp_path / "in"


@pytest.mark.parametrize(
    ("spark", "line"),
    [
        (
            {"engine": "spark", "tabel": "t"},
            "models[0].input.tabel: unknown key (did you mean 'table'?); "
            "allowed: conf, engine, master, path, table",
        ),
        ({"engine": "spork", "table": "t"}, "models[0].input.engine: must be one of 'spark'"),
        ({"table": "t"}, "models[0].input.engine: required key is missing"),
        ({"engine": "spark"}, "models[0].input: a Spark input names exactly one of table"),
        ({"engine": "spark", "table": "t", "path": "p"}, "names exactly one of table"),
        ({"engine": "spark", "table": "t", "master": 2}, "input.master: must be a string"),
        ({"engine": "spark", "table": "t", "conf": {"k": 1}}, "models[0].input.conf.k: must be a"),
        (["in"], "models[0].input: must be a string"),
    ],
)
def test_bad_spark_inputs_are_named_by_key_path(spark: Any, line: str) -> None:
    message = _error(_model(spark))
    assert all(m.startswith("silo.yaml: ") for m in message.splitlines())
    assert line in message


def test_a_spark_input_without_pyspark_stops_the_agent_with_exit_2(
    tmp_path: Path, spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from agent.service import Agent

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if not installed
    doc = _model({"engine": "spark", "table": "t"})
    doc["models"][0]["spec"] = str(spec_file)
    with pytest.raises(ConfigError, match=r"pip install 'fedgov\[spark\]'") as info:
        Agent(config_from_dict(doc, base=tmp_path))
    assert info.value.exit_code == 2
