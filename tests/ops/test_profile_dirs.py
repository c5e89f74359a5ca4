"""Extra device-profile folders (``profile_dirs``) for agent and gateway, validated at load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.errors import ConfigError
from chargewatch.messages import Telemetry, encode
from chargewatch.profiles import PROFILE_DIR, find_profile, load_profiles
from edge_agent.config import load_config as load_agent_config
from gateway.config import load_config as load_gateway_config
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics

NOW = 1_750_000_000.0


def _custom_blocker(folder: Path, model: str = "site-blocker") -> Path:
    """A local variant of the bundled blocker under its own model name."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (PROFILE_DIR / "cw-blocker.yaml").read_text().replace("model: cw-blocker", f"model: {model}")
    path = folder / f"{model}.yaml"
    path.write_text(text)
    return path


def _agent_yaml(tmp: Path, model: str, dirs: Sequence[str]) -> Path:
    path = tmp / "agent.yaml"
    path.write_text(
        "agent_id: a1\n"
        f"profile_dirs: {list(dirs)}\n"
        "buses:\n"
        "  - {name: b1, transport: tcp, host: 127.0.0.1, port: 5020, devices: "
        f"[{{id: k1, unit: 1, model: {model}}}]}}\n"
        f"outbox: {{path: {tmp / 'outbox.sqlite'}}}\n"
    )
    return path


def _gateway_yaml(tmp: Path, dirs: Sequence[str]) -> Path:
    path = tmp / "gateway.yaml"
    path.write_text(
        f"mqtt: {{client_id: gw-1}}\nprofile_dirs: {list(dirs)}\n"
        f"store: {{kind: sqlite, path: {tmp / 'store.sqlite'}}}\n"
    )
    return path


def test_bundled_profiles_live_in_the_package() -> None:
    assert PROFILE_DIR.parent.name == "chargewatch"
    assert sorted(load_profiles()) == ["cw-blocker", "cw-pile-10", "vx-pile-12"]


def test_agent_loads_a_model_from_a_relative_profile_dir(tmp_path: Path) -> None:
    _custom_blocker(tmp_path / "site-profiles")
    loaded = load_agent_config(_agent_yaml(tmp_path, "site-blocker", ["site-profiles"]))
    assert loaded.profiles["site-blocker"].kind == "blocker"
    assert loaded.profiles["site-blocker"].model == "site-blocker"


def test_agent_refuses_an_unknown_model_naming_the_device(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"devices\[0\] \(k1\)\.model: unknown profile model 'nope'"):
        load_agent_config(_agent_yaml(tmp_path, "nope", []))


def test_a_missing_profile_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profile_dirs\[0\]: 'gone'.*is not a folder"):
        load_agent_config(_agent_yaml(tmp_path, "cw-blocker", ["gone"]))
    with pytest.raises(ConfigError, match=r"gateway.yaml: profile_dirs\[0\]: 'gone'"):
        load_gateway_config(_gateway_yaml(tmp_path, ["gone"]))


def test_an_invalid_file_in_a_profile_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    _custom_blocker(folder)
    (folder / "broken.yaml").write_text("model: broken\nvendor: x\nkind: pile\nports: 0\npoints: []\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: ports: a pile needs 1\.\.64 ports"):
        load_agent_config(_agent_yaml(tmp_path, "site-blocker", ["p"]))
    with pytest.raises(ConfigError, match=r"broken\.yaml: ports"):
        load_gateway_config(_gateway_yaml(tmp_path, [str(folder)]))


def test_a_model_defined_twice_names_both_files(tmp_path: Path) -> None:
    a, b = _custom_blocker(tmp_path / "a"), _custom_blocker(tmp_path / "b")
    with pytest.raises(ConfigError, match="defined twice") as info:
        load_agent_config(_agent_yaml(tmp_path, "site-blocker", ["a", "b"]))
    assert str(a) in str(info.value)
    assert str(b) in str(info.value)
    with pytest.raises(ConfigError, match="defined twice"):
        find_profile("site-blocker", [a.parent, b.parent])
    shadow = _custom_blocker(tmp_path / "c", "cw-blocker")
    with pytest.raises(ConfigError, match="defined twice") as info:
        load_gateway_config(_gateway_yaml(tmp_path, ["c"]))
    assert str(PROFILE_DIR / "cw-blocker.yaml") in str(info.value)
    assert str(shadow) in str(info.value)


class _Spool:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        self.lines.extend(lines)
        return len(self.lines)


async def test_gateway_stores_a_model_from_its_profile_dirs_by_its_kind(tmp_path: Path) -> None:
    _custom_blocker(tmp_path / "site-profiles")
    cfg = load_gateway_config(_gateway_yaml(tmp_path, ["site-profiles"]))
    assert cfg.profile_dirs == [str(tmp_path / "site-profiles")]
    spool, state = _Spool(), IngestState(tmp_path / "state.sqlite")
    pipeline = IngestPipeline(
        site="s",
        spool=spool,
        state=state,
        tracker=SeqTracker(),
        analytics=ThresholdRule(samples=1),
        liveness=Liveness(90.0),
        metrics=Metrics(),
        policy=TimePolicy(60.0, 86400.0),
        publish=lambda t, p, r: None,
        profile_dirs=[Path(d) for d in cfg.profile_dirs],
    )
    msg = Telemetry(device="k1", boot=1, seq=0, ts=NOW, model="site-blocker", values={"hold_s": 3.0})
    await pipeline.handle([(topics.device_topic("k1", topics.TELEMETRY), encode(msg), NOW + 1)])
    state.close()
    assert [line.split(",", 1)[0] for line in spool.lines] == ["blocker"]
