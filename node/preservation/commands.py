"""Long-term preservation checks: run a pass, list alerts (over HTTP)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    AsJson,
    NodeUrl,
    Token,
    call_node,
    emit,
)

preservation_app = typer.Typer(no_args_is_help=True, help="Long-term preservation checks: run a pass, list alerts.")


@preservation_app.command("run")
def preservation_run(
    from_start: Annotated[bool, typer.Option(help="Start at the first item, not at the cursor.")] = False,
    max_items: Annotated[int | None, typer.Option(help="Stop after this many items.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """One pass now. Exit 0: no new alert; 1: new alerts."""
    body: dict[str, Any] = {"from_start": from_start}
    if max_items is not None:
        body["max_items"] = max_items
    data = call_node(node, api_key_file, "POST", "/preservation/run", token=token, json=body)
    if as_json:
        emit(data)
    else:
        typer.echo(f"pass {data['run_id']}: {data['items_checked']} item(s), {data['bytes_checked']} bytes checked, "
                   f"{data['items_with_differences']} with differences"
                   + ("; cycle complete" if data["cycle_complete"] else "; resumes at the cursor"))  # fmt: skip
        for alert in data["new_alerts"]:
            typer.secho(f"ALERT [{alert['kind']}] item {alert['item_id']}: {alert['message']}", fg=typer.colors.RED)
    raise typer.Exit(1 if data["new_alerts"] else 0)


@preservation_app.command("alerts")
def preservation_alerts(
    all_: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Open alerts (exit 1 if any)."""
    alerts = call_node(node, api_key_file, "GET", "/preservation/alerts", token=token, params={"all": all_})["alerts"]
    if as_json:
        emit(alerts)
    else:
        for a in alerts:
            state = f"resolved {a['resolved_at']}" if a["resolved_at"] else "OPEN"
            typer.echo(f"{a['created_at']}  {state}  [{a['kind']}] item {a['item_id'] or '-'} (fonds {a['fonds']}): "
                       f"{a['message']}")  # fmt: skip
        if not alerts:
            typer.echo("no open alerts")
    raise typer.Exit(1 if any(a["resolved_at"] is None for a in alerts) else 0)
