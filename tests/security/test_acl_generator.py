"""``chargewatch broker-acl``: the shipped example is current; conflicts are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from chargewatch_cli.broker_acl import AgentAccount, GatewayAccount, main, render

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_example_acl_is_what_the_generator_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "acl"
    argv = [
        "--agent-config",
        "configs/agent.example.yaml",
        "--gateway-config",
        "configs/gateway.example.yaml",
    ]
    assert main([*argv, "--reader", "dashboard", "--out", str(out)]) == 0
    assert out.read_text() == (ROOT / "configs" / "mosquitto" / "acl.example").read_text()
    assert not [line for line in out.read_text().splitlines() if line.startswith("pattern")]


def test_conflicts_are_refused() -> None:
    a1 = AgentAccount("a1.yaml", "a1", "a1", ("p1",))
    gw = GatewayAccount("gw.yaml", "gw", "gw")
    with pytest.raises(ConfigError, match=r"device 'p1' is also served by a1.yaml"):
        render([a1, AgentAccount("a2.yaml", "a2", "a2", ("p1",))], [gw], [])
    with pytest.raises(ConfigError, match=r"username 'a1' is also used by a1.yaml"):
        render([a1, AgentAccount("a2.yaml", "a1", "a2", ("p2",))], [gw], [])
    with pytest.raises(ConfigError, match=r"reader 'gw' is also the username of gw.yaml"):
        render([a1], [gw], ["gw"])
    with pytest.raises(ConfigError, match="cannot be named in an ACL"):
        render([AgentAccount("a3.yaml", "a 3", "a3", ("p3",))], [gw], [])
    with pytest.raises(ConfigError, match="does not match"):
        render([a1], [gw], ["two words"])
