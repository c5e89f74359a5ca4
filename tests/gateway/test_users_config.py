"""``http.users`` at start-up: every mistake stops the gateway with the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from gateway.config import api_users, load_config
from gateway.passwords import Cost, hash_password
from gateway.users import reads_need_login

TOKEN = "0123456789abcdef0123"  # noqa: S105 -- a throwaway token
HASH = hash_password("correct horse", Cost(14, 8, 1))


def _config(tmp_path: Path, http: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"mqtt:\n  client_id: cw-gateway-1\nstore:\n  kind: sqlite\n  path: {tmp_path}/ts.db\nhttp:\n{http}"
    )
    return path


def _refused(tmp_path: Path, http: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(_config(tmp_path, http))


def test_the_single_shared_token_is_refused_with_the_migration(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        "  token_env: CW_API_TOKEN\n",
        r"gw\.yaml: http\.token_env/http\.token_file .* replaced by named users.*"
        r"Fix: move it into http\.users, e\.g\. "
        r"users: \[\{name: ops, role: operator, token_env: CW_API_TOKEN\}\]",
    )


def test_beyond_loopback_needs_an_operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exposed = r"http\.bind '0\.0\.0\.0' exposes the API beyond this machine without an operator credential"
    _refused(tmp_path, "  bind: 0.0.0.0\n", exposed)
    viewer_only = f'  bind: 0.0.0.0\n  users:\n    - {{name: wall, role: viewer, password_hash: "{HASH}"}}\n'
    _refused(tmp_path, viewer_only, exposed)
    monkeypatch.setenv("CW_OPS_TOKEN", TOKEN)
    cfg = load_config(
        _config(tmp_path, viewer_only + "    - {name: ops, role: operator, token_env: CW_OPS_TOKEN}\n")
    )
    users = api_users(cfg.http)
    assert [(u.name, u.role, u.token, u.password is not None) for u in users] == [
        ("wall", "viewer", "", True),
        ("ops", "operator", TOKEN, False),
    ]
    assert reads_need_login(cfg.http.bind, cfg.http.read) is True
    assert reads_need_login("127.0.0.1", "auto") is False
    assert reads_need_login("::1", "login") is True


def test_each_user_entry_is_checked_and_named(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        f'  users:\n    - {{name: a, role: viewer, password_hash: "{HASH}"}}\n'
        f'    - {{name: a, role: operator, password_hash: "{HASH}"}}\n',
        r"http\.users\[1\]\.name 'a' appears twice",
    )
    _refused(
        tmp_path, "  users:\n    - {name: a, role: viewer}\n", r"http\.users\[0\] \(a\) has no credential"
    )
    _refused(
        tmp_path,
        '  users:\n    - {name: a, role: operator, password_hash: "hunter22"}\n',
        r"http\.users\[0\]\.password_hash \(a\) is not a hash: expected scrypt\$.*Fix: paste the output of "
        r"`chargewatch hash-password`",
    )
    weak = "$".join(["scrypt", "10", *HASH.split("$")[2:]])
    _refused(
        tmp_path,
        f'  users:\n    - {{name: a, role: operator, password_hash: "{weak}"}}\n',
        r"password_hash \(a\) is not a hash: cost log2 N=10 r=8 p=1 is outside",
    )
    _refused(
        tmp_path,
        "  users:\n    - {name: a, role: admin, token_env: X}\n",
        r"Invalid enum value 'admin' - at `\$\.http\.users\[0\]\.role`",
    )
    _refused(
        tmp_path,
        "  users:\n    - {name: a, role: viewer, password: plain}\n",
        r"unknown field `password` - at `\$\.http\.users\[0\]`",
    )
    _refused(tmp_path, "  read: login\n", r"http\.read is login but http\.users is empty")


def test_tokens_come_from_the_environment_or_a_file_and_must_be_long_and_distinct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CW_OPS_TOKEN", raising=False)
    entry = "  users:\n    - {name: ops, role: operator, token_env: CW_OPS_TOKEN}\n"
    _refused(
        tmp_path,
        entry,
        r"gw\.yaml: http\.users\[0\] \(ops\): token_env names \$CW_OPS_TOKEN, which is not set",
    )
    monkeypatch.setenv("CW_OPS_TOKEN", "short")
    _refused(
        tmp_path,
        entry,
        r"http\.users\[0\] \(ops\): the token from \$CW_OPS_TOKEN is empty or shorter than 16 characters",
    )
    secret = tmp_path / "ops.token"
    secret.write_text(TOKEN + "\n")
    cfg = load_config(
        _config(tmp_path, f"  users:\n    - {{name: ops, role: operator, token_file: {secret}}}\n")
    )
    assert [u.token for u in api_users(cfg.http)] == [TOKEN]
    monkeypatch.setenv("CW_OPS_TOKEN", TOKEN)
    _refused(
        tmp_path,
        entry + f"    - {{name: wall, role: viewer, token_file: {secret}}}\n",
        r"http\.users: ops and wall have the same token",
    )


def test_the_example_configs_users_load_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).resolve().parents[2] / "configs" / "gateway.example.yaml").read_text()
    assert load_config(_example(tmp_path, text)).http.users == []  # as shipped: no users, loopback
    token = tmp_path / "wall.token"
    token.write_text(TOKEN[::-1])
    monkeypatch.setenv("CW_SCADA_TOKEN", TOKEN)
    users, block = [], False
    for line in text.splitlines():  # uncomment the "# users:" block under http:
        block = line == "  # users:" or (block and line.startswith("  #   "))
        if line != "  users: []":
            users.append(("  " + line[4:] if line.startswith("  #   ") else "  users:") if block else line)
    edited = "\n".join(users).replace("scrypt$15$8$1$<salt>$<key>", HASH)
    edited = edited.replace("/etc/chargewatch/wall-screen.token", str(token))
    cfg = load_config(_example(tmp_path, edited))
    assert [(u.name, u.role, u.token, u.password is not None) for u in api_users(cfg.http)] == [
        ("zhang", "operator", "", True),
        ("scada", "operator", TOKEN, False),
        ("wall-screen", "viewer", TOKEN[::-1], False),
    ]


def _example(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path
