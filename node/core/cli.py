"""What every slice's CLI commands share: the common options, printing, failing with an exit code,
reading a password, and calling the node as a person (commands.py of each slice imports these)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="ARCHIVE_LEDGER_DATA_DIR", help="Node data directory.")]
NodeUrl = Annotated[str, typer.Option("--node", envvar="ARCHIVE_LEDGER_NODE", help="Base URL of a running node.")]
ApiKeyFile = Annotated[
    Path,
    typer.Option("--api-key-file", envvar="ARCHIVE_LEDGER_API_KEY_FILE",
                 help="0600 file holding the API key (or set ARCHIVE_LEDGER_API_KEY)."),
]  # fmt: skip
Token = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="ARCHIVE_LEDGER_TOKEN", help="Login token (alt_...), else login token file, else API key"
    ),
]
TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", envvar="ARCHIVE_LEDGER_TOKEN_FILE",
                 help="Login token file (default ~/.config/archive-ledger/token)."),
]  # fmt: skip
PasswordFile = Annotated[
    Path | None, typer.Option(help="Read the password from this file (else $ARCHIVE_LEDGER_PASSWORD or a prompt).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
DEFAULT_DATA = Path("data")
DEFAULT_NODE = "http://127.0.0.1:8400"
DEFAULT_KEY_FILE = DEFAULT_DATA / "secrets" / "api-key"
PASSWORD_ENV = "ARCHIVE_LEDGER_PASSWORD"  # read by the CLI on the user's machine, not a node setting


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def read_password(prompt: str, password_file: Path | None, *, confirm: bool = False) -> str:
    """From --password-file, else $ARCHIVE_LEDGER_PASSWORD, else asked (never an argument: no shell history)."""
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc}", 2)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def call_node(
    node: str,
    api_key_file: Path,
    method: str,
    url: str,
    *,
    token: str | None = None,
    token_file: Path | None = None,
    **kwargs: Any,
) -> Any:
    """One JSON call as a person (--token, else the login token, else the API key). A refusal is a
    LedgerError, which the entry (cli.py) turns into `error: ...` and exit 1."""
    from node.core.client import node_client

    with node_client(node, "person", api_key_file=api_key_file, token=token, token_file=token_file) as client:
        return client.call_json(method, url, **kwargs)
