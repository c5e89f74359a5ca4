"""The ``notify:`` section: the shipped example (with its commented channels switched on) loads,
bad values stop start-up with the file, the key and the fix; the shipped Alertmanager config and
templates pass amtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from chargewatch.clock import ManualClock
from chargewatch.errors import ConfigError
from gateway.config import NotifyConfig, WeComConfig, load_config
from gateway.metrics import Metrics
from gateway.notify import Notifier
from tests.support.servers import require

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "configs" / "gateway.example.yaml"


def _with_notify(tmp_path: Path, notify_yaml: str) -> Path:
    text = EXAMPLE.read_text().split("\nnotify:")[0]
    path = tmp_path / "gateway.yaml"
    path.write_text(f"{text}\nnotify:\n{notify_yaml}")
    return path


def test_example_loads_with_every_commented_channel_enabled(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    head, rest = text.split("\nnotify:")
    section = re.search(r"\n(?=[a-z#])", rest)  # the next top-level key or comment ends it
    assert section is not None
    notify, tail = rest[: section.start()], rest[section.start() :]
    enabled = re.sub(r"^  # (?=[a-z_]+:)", "  ", notify, flags=re.MULTILINE)
    enabled = re.sub(r"^  #   ", "    ", enabled, flags=re.MULTILINE)
    path = tmp_path / "gateway.yaml"
    path.write_text(f"{head}\nnotify:{enabled}{tail}")
    n = load_config(path).notify
    assert n.alertmanager is not None
    assert n.wecom is not None
    assert n.wecom.key_env == "CW_WECOM_KEY"
    assert n.dingtalk is not None
    assert n.dingtalk.secret_env == "CW_DINGTALK_SECRET"  # noqa: S105 - a variable name
    assert n.webhook is not None
    assert load_config(EXAMPLE).notify.wecom is None  # as shipped: no channel


@pytest.mark.parametrize(
    ("notify_yaml", "message"),
    [
        (
            "  wecom: {url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc'}\n",
            "notify.wecom.url carries a secret",
        ),
        ("  wecom: {}\n", "notify.wecom needs its robot key. Fix: set notify.wecom.key_env"),
        ("  dingtalk: {access_token_env: A, access_token_file: /x}\n", "set only one of access_token_env"),
        ("  webhook: {}\n", "notify.webhook.url '' must be http(s)"),
        (
            "  alertmanager: {url: '127.0.0.1:9093'}\n",
            "notify.alertmanager.url '127.0.0.1:9093' must be http(s)",
        ),
        ("  wecom: {key_env: K, colour: red}\n", "Object contains unknown field `colour`"),
        ("  retry: {initial_s: 5, cap_s: 1}\n", "notify.retry.cap_s must be at least"),
    ],
)
def test_bad_notify_config_names_the_key(tmp_path: Path, notify_yaml: str, message: str) -> None:
    path = _with_notify(tmp_path, notify_yaml)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_a_missing_key_variable_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CW_TEST_NO_SUCH_KEY", raising=False)
    cfg = NotifyConfig(wecom=WeComConfig(key_env="CW_TEST_NO_SUCH_KEY"))
    with pytest.raises(
        ConfigError, match=r"notify.wecom: key_env names \$CW_TEST_NO_SUCH_KEY, which is not set"
    ):
        Notifier(cfg, site="s", public_url="http://g", metrics=Metrics(), clock=ManualClock())


def test_shipped_alertmanager_config_and_templates_pass_amtool(tmp_path: Path) -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    folder = REPO / "configs" / "alertmanager"
    conf = tmp_path / "alertmanager.yml"
    conf.write_text(
        (folder / "alertmanager.yml")
        .read_text()
        .replace("/etc/prometheus/alertmanager_templates/*.tmpl", str(folder / "chargewatch.tmpl"))
    )
    out = subprocess.run(
        [amtool, "check-config", str(conf)], check=False, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 inhibit rules" in out.stdout
    assert "1 templates" in out.stdout
    glob = f"--template.glob={folder / 'chargewatch.tmpl'}"
    render = subprocess.run(
        [amtool, "template", "render", glob, '--template.text={{ template "chargewatch.subject" . }}'],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert render.returncode == 0, render.stderr
    assert render.stdout.startswith("[ChargeWatch]")
