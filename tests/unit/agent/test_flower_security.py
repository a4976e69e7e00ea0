"""Which SuperNode a silo agrees to start for a ``join_training`` command."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from support.agents import agent_config

from agent.config import AgentConfig, config_from_dict
from agent.silo_commands import SiloCommands
from fedgov.tls import TlsFiles, write_node_key


@dataclass
class _Host:
    config: AgentConfig


def _config(tmp_path: Path, **training: str) -> AgentConfig:
    tls = {"ca": "ca.pem", "cert": "s.pem", "key": "s.key"}
    doc = agent_config("spec.json", "in", aggregator={"address": "a:1", "tls": tls})
    return config_from_dict(doc | {"training": {"data": "t.csv", **training}}, base=tmp_path)


def test_the_node_key_is_read_relative_to_the_config(tmp_path: Path) -> None:
    cfg = _config(tmp_path, node_key="certs/EU-DE.node")
    assert cfg.node_key == tmp_path / "certs" / "EU-DE.node"


def test_an_mtls_silo_starts_its_supernode_on_tls_with_its_node_key(tmp_path: Path) -> None:
    key = write_node_key(tmp_path / "certs", "EU-DE")
    cfg = _config(tmp_path, node_key="certs/EU-DE.node")
    root, node_key = SiloCommands(_Host(cfg))._flower_security(tls=True)  # type: ignore[arg-type]
    assert (root, node_key) == (tmp_path / "ca.pem", key.private)


def test_an_mtls_silo_sends_no_model_update_in_plaintext(tmp_path: Path) -> None:
    commands = SiloCommands(_Host(_config(tmp_path)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not sent in plaintext"):
        commands._flower_security(tls=False)


def test_a_silo_without_a_node_key_refuses_a_tls_superlink(tmp_path: Path) -> None:
    commands = SiloCommands(_Host(_config(tmp_path)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no node key: set training.node_key"):
        commands._flower_security(tls=True)
    missing = SiloCommands(_Host(_config(tmp_path, node_key="gone.node")))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gone.node does not exist"):
        missing._flower_security(tls=True)


def test_a_plaintext_silo_has_no_ca_for_a_tls_superlink(tmp_path: Path) -> None:
    cfg = replace(_config(tmp_path), tls=None, insecure=True)
    commands = SiloCommands(_Host(cfg))  # type: ignore[arg-type]
    assert commands._flower_security(tls=False) == (None, None)
    with pytest.raises(ValueError, match="no CA to trust it"):
        commands._flower_security(tls=True)
    assert isinstance(_config(tmp_path).tls, TlsFiles)
