"""Password hashes: salted scrypt that verifies only the right password, strict parsing, and
``chargewatch hash-password`` producing an entry the gateway config accepts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from chargewatch_cli import main as cli_main
from gateway.config import api_users, load_config
from gateway.passwords import DEFAULT_COST, Cost, hash_password, parse_hash, verify_password


def test_a_hash_verifies_its_password_only_and_is_salted() -> None:
    first = hash_password("correct horse", Cost(14, 8, 1))
    second = hash_password("correct horse", Cost(14, 8, 1))
    assert first != second  # a fresh salt each time
    parsed = parse_hash(first)
    assert parsed.cost == Cost(14, 8, 1)
    assert (len(parsed.salt), len(parsed.key)) == (16, 32)
    assert verify_password("correct horse", parsed) is True
    assert verify_password("correct horsf", parsed) is False
    assert verify_password("correct horse", parse_hash(second)) is True


def test_malformed_hashes_and_short_passwords_are_refused() -> None:
    good = hash_password("correct horse", Cost(14, 8, 1)).split("$")
    with pytest.raises(ValueError, match=r"expected scrypt\$<log2 N>"):
        parse_hash("$2b$12$bcrypt-is-not-this")
    with pytest.raises(ValueError, match="cost fields must be integers"):
        parse_hash("$".join([good[0], "x", *good[2:]]))
    with pytest.raises(ValueError, match="salt/key base64"):
        parse_hash("$".join([*good[:4], "not base64!", good[5]]))
    with pytest.raises(ValueError, match=r"key 32 bytes"):
        parse_hash("$".join([*good[:5], good[5][:20]]))
    with pytest.raises(ValueError, match="outside"):
        parse_hash("$".join([good[0], "21", *good[2:]]))
    with pytest.raises(ValueError, match="at least 8 characters"):
        hash_password("short")


def test_the_cli_prints_a_hash_and_a_config_entry_the_gateway_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert cli_main(["hash-password", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert parse_hash(printed).cost == DEFAULT_COST
    assert verify_password("correct horse", parse_hash(printed))
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert cli_main(["hash-password", "--stdin", "--name", "zhang", "--role", "operator"]) == 0
    entry = capsys.readouterr().out
    assert "correct horse" not in entry
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"mqtt:\n  client_id: gw\nstore:\n  kind: sqlite\n  path: {tmp_path}/ts.db\nhttp:\n  users:\n{entry}"
    )
    (user,) = api_users(load_config(config).http)
    assert (user.name, user.role) == ("zhang", "operator")
    assert user.password is not None
    assert verify_password("correct horse", user.password)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main(["hash-password", "--stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
