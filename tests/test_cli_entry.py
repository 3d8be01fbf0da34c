"""cli.py as a thin entry: the command groups it assembles, the one map from errors to exit codes, and
node_client, the one way the CLI builds a node client (which credential each kind of caller presents)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from node.core.client import node_client

runner = CliRunner()


def _dead_node() -> str:
    """A URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _bearer(client) -> str | None:  # type: ignore[no-untyped-def]
    value = client.http.headers.get("authorization")
    client.close()
    return value.removeprefix("Bearer ") if value else None


def _secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_every_command_and_group_is_assembled_in_order() -> None:
    result = runner.invoke(cli.app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    names = [name for name, _ in cli.COMMANDS] + [name for name, _ in cli.GROUPS]
    assert len(names) == len(set(names)) == 23
    positions = [result.output.index(f"│ {name} ") for name in names]
    assert positions == sorted(positions), "help lists the commands, then the groups, in assembly order"
    assert runner.invoke(cli.app, ["loan", "--help"]).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["anchor"],
        ["proof", "abc"],
        ["audit", "export", "--format", "json"],
        ["users", "list"],
        ["volumes", "list"],
    ],
)
def test_an_unreachable_node_is_error_and_exit_1(args: list[str], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "alk_test")
    monkeypatch.setenv("ARCHIVE_LEDGER_TOKEN_FILE", str(tmp_path / "no-token"))
    result = runner.invoke(cli.app, [*args, "--node", _dead_node()])
    assert result.exit_code == 1, result.output
    assert "error: " in result.output and "Traceback" not in result.output


def test_a_bad_usage_keeps_its_own_exit_code() -> None:
    result = runner.invoke(cli.app, ["audit", "export", "--format", "xml"])
    assert result.exit_code == 2 and "--format is csv or json" in result.output


def test_node_client_presents_the_credential_of_its_caller(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ARCHIVE_LEDGER_API_KEY", raising=False)
    key_file = _secret(tmp_path / "api-key", "alk_from_file")
    token_file = _secret(tmp_path / "token", "alt_from_login")
    missing = tmp_path / "missing"
    url = "http://127.0.0.1:1"
    assert _bearer(node_client(url)) is None
    assert _bearer(node_client(url, token="alt_given")) == "alt_given"
    assert _bearer(node_client(url, "integrator", api_key_file=key_file)) == "alk_from_file"
    assert _bearer(node_client(url, "integrator", api_key_file=missing)) is None
    # filing: the API key, else the login token
    assert _bearer(node_client(url, "integrator_or_login", api_key_file=key_file, token_file=token_file)) == (
        "alk_from_file"
    )
    assert _bearer(node_client(url, "integrator_or_login", api_key_file=missing, token_file=token_file)) == (
        "alt_from_login"
    )
    # people: --token, else the login token, else the API key
    assert _bearer(node_client(url, "person", api_key_file=key_file, token="alt_given", token_file=token_file)) == (
        "alt_given"
    )
    assert _bearer(node_client(url, "person", api_key_file=key_file, token_file=token_file)) == "alt_from_login"
    assert _bearer(node_client(url, "person", api_key_file=key_file, token_file=missing)) == "alk_from_file"
    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "alk_from_env")
    assert _bearer(node_client(url, "integrator", api_key_file=key_file)) == "alk_from_env"


def test_an_unsafe_credential_file_is_refused(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ARCHIVE_LEDGER_API_KEY", raising=False)
    key_file = _secret(tmp_path / "api-key", "alk_from_file")
    key_file.chmod(0o644)
    result = runner.invoke(cli.app, ["status", "--node", _dead_node(), "--api-key-file", str(key_file)])
    assert result.exit_code == 1 and "readable by others" in result.output
