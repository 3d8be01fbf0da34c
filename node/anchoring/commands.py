"""`archive-ledger anchor` and `status` (over HTTP)."""

from __future__ import annotations

from typing import Any

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    NodeUrl,
    fail,
)
from node.core.client import node_client


def anchor(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE) -> None:
    """Checkpoint every log with new records now, wait for confirmation, print the transaction."""
    from node.core.client import NodeRequestError

    try:
        with node_client(node, "integrator", api_key_file=api_key_file) as client:
            report = client.anchor()
    except NodeRequestError as exc:
        if exc.reason == "chain_unavailable":  # nothing was anchored; the records wait, safe to re-run
            fail(f"chain unavailable, nothing anchored (records stay pending; re-run when the chain is back): {exc}")
        raise  # exit 1 (cli.EXIT_CODES)
    for loss in report.get("rollbacks") or []:
        typer.secho(
            f"CHAIN ROLLBACK: fonds {loss['fonds']}: {loss['lost_checkpoints']} confirmed checkpoint(s) "
            f"(sizes {', '.join(map(str, loss['lost_sizes']))}) were no longer on chain ({loss['reason']}); "
            "anchoring them again",
            fg=typer.colors.RED, err=True,
        )  # fmt: skip
    if report["submitted"]:
        typer.echo(f"anchored {report['submitted']['logs']} log(s) in tx {report['submitted']['tx_hash']}")
        for cp in report["checkpoints"]:
            typer.echo(f"  log {cp['log_id'][:16]}… size {cp['tree_size']} root {cp['root']}")
    else:
        typer.echo("nothing new to anchor")
    for line in report["reconciled"]:
        typer.echo(f"  reconciled: {line}")


def status(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE) -> None:
    """Log sizes, last checkpoints, records waiting for anchoring, chain height."""
    with node_client(node, "integrator", api_key_file=api_key_file) as client:
        data = client.status()  # a refusal: exit 1 (cli.EXIT_CODES)
    chain = data["chain"]
    typer.echo(f"chain {chain['chain_id']}: " + (f"block {chain['block']}" if chain["reachable"] else "UNREACHABLE"))
    typer.echo(f"contract: {data['contract']}")
    for log in data["logs"]:
        last = log["last_checkpoint"]
        typer.echo(
            f"fonds {log['fonds']}: {log['size']} records, {log['anchored_size']} anchored, "
            f"{log['pending_records']} pending"
            + (
                f" ({log['lost_checkpoints']} checkpoint(s) lost in a chain rollback)"
                if log.get("lost_checkpoints")
                else ""
            )
            + (f"; last checkpoint tx {last['tx_hash']} block {last['block_number']}" if last else "")
        )
    if data["anchoring"]["last_error"]:
        anchoring = data["anchoring"]
        typer.echo(f"anchoring: {anchoring['consecutive_failures']} failure(s): {anchoring['last_error']}")
    _print_rollbacks(data["anchoring"])
    _print_preservation(data.get("preservation"))


def _print_rollbacks(anchoring: dict[str, Any]) -> None:
    """The chain-rollback part of `status`: anchors the chain lost (reorg, reset) and their repair."""
    if not anchoring.get("chain_rollbacks"):
        return
    last = anchoring.get("last_rollback") or {}
    lost = anchoring.get("lost_checkpoints") or 0
    line = (f"CHAIN ROLLBACKS: {anchoring['chain_rollbacks']} detected; {lost} lost checkpoint(s) "
            + ("waiting to be anchored again" if lost else "(all anchored again)"))  # fmt: skip
    typer.secho(line, fg=typer.colors.RED if lost else typer.colors.YELLOW)
    if last:
        typer.echo(f"  last: fonds {last['fonds']} at {last['detected_at']}: {last['reason']}")


def _print_preservation(pres: dict[str, Any] | None) -> None:
    """The preservation part of `status`: last pass and open alerts (DA/T 70 long-term checks)."""
    if not pres:
        return
    last = pres.get("last_run")
    line = "preservation: " + ("enabled" if pres["enabled"] else "disabled")
    if last:
        line += (f"; last pass {last['finished_at']}: {last['items_checked']} item(s) checked, "
                 f"{last['items_with_differences']} with differences")  # fmt: skip
    typer.echo(line)
    if pres.get("last_error"):
        typer.echo(f"preservation: last pass failed: {pres['last_error']}")
    if pres.get("open_alerts"):
        typer.secho(f"ALERTS: {pres['open_alerts']} open preservation alert(s)", fg=typer.colors.RED)
        for alert in pres.get("alerts", []):
            where = f"item {alert['item_id']}" if alert["item_id"] else f"log {alert['fonds']}"
            typer.echo(f"  [{alert['kind']}] {where} (fonds {alert['fonds']}): {alert['message']}")
