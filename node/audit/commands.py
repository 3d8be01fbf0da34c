"""The audit trail: verify, export (security auditor, over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    NodeUrl,
    TokenFile,
    call_node,
    emit,
    fail,
)
from node.core.client import node_client

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: verify, export (security auditor).")


@audit_app.command("verify")
def audit_verify(
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:  # fmt: skip
    """Check the audit trail (chain of hashes, log records, anchored roots). Exit 1 on tampering."""
    report = call_node(node, api_key_file, "GET", "/audit/verify", token_file=token_file)
    if as_json:
        emit(report)
    else:
        chain = "" if report["chain_checked"] else f"; chain NOT checked: {report.get('chain_error')}"
        typer.echo(f"{report['events']} events ({report['unsealed']} not yet in the log), {report['audit_records']} "
                   f"audit records, {report['checkpoints_checked']} checkpoints checked{chain}")  # fmt: skip
        for problem in report["problems"]:
            where = ", ".join(
                f"{k} {problem[k]}" for k in ("seq", "id", "log", "leaf_index", "tree_size") if k in problem
            )
            typer.secho(f"TAMPERED {problem['kind']}: {problem['message']} ({where})", fg=typer.colors.RED)
        typer.echo("OK" if report["ok"] else "AUDIT TRAIL TAMPERED")
    raise typer.Exit(0 if report["ok"] else 1)


@audit_app.command("export")
def audit_export(
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")] = None,
    since: str | None = None, until: str | None = None,
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Export the audit events (security auditor)."""
    if format not in ("csv", "json"):
        fail("--format is csv or json", 2)
    params = {k: v for k, v in (("format", format), ("since", since), ("until", until)) if v}
    with node_client(node, "person", api_key_file=api_key_file, token_file=token_file) as client:
        text = client.call_text("GET", "/audit/export", params=params)  # a refusal: exit 1 (cli.EXIT_CODES)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
