"""Closing an agent while its listening thread handles a command: close() waits for the
command, so its ack never runs on a closed channel (grpc raises ValueError in the thread)."""

from __future__ import annotations

import threading
from pathlib import Path

from support.agents import agent_config

from agent.client import Command
from agent.config import config_from_dict
from agent.service import Agent


def test_close_waits_for_the_command_being_handled(tmp_path: Path, spec_file: Path) -> None:
    (tmp_path / "in").mkdir()
    agent = Agent(config_from_dict(agent_config(spec_file, "in"), base=tmp_path))
    closed = threading.Event()
    acking, release = threading.Event(), threading.Event()
    acks: list[tuple[str, bool]] = []
    close_channel = agent.client.close

    def close() -> None:
        closed.set()
        close_channel()

    def ack(command_id: str, silo_id: str, status: str, message: str) -> None:
        acking.set()
        release.wait(10)
        acks.append((status, closed.is_set()))  # the real ack would raise if closed

    agent.client.close = close  # type: ignore[method-assign]
    agent.client.ack_command = ack  # type: ignore[method-assign]
    cmd = Command("c1", "retrain", "j1", "credit-risk", "9.9.9", "test")  # not served: rejected
    handler = threading.Thread(target=agent.handle_command, args=(cmd,))
    handler.start()
    assert acking.wait(10)
    closer = threading.Thread(target=agent.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive() and not closed.is_set()  # close() waits for the command
    release.set()
    handler.join(10)
    closer.join(10)
    assert not handler.is_alive() and not closer.is_alive()
    assert acks == [("rejected", False)] and closed.is_set()
