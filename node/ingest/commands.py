"""`archive-ledger ingest`: batch upload with sidecar metadata, resumable (over HTTP)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    NodeUrl,
    fail,
)
from node.core.client import node_client


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and directories to ingest.")],
    node: NodeUrl = DEFAULT_NODE,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    fonds: Annotated[str | None, typer.Option(help="Default fonds code.")] = None,
    category: Annotated[str | None, typer.Option(help="Default category (门类).")] = None,
    year: Annotated[int | None, typer.Option(help="Default year.")] = None,
    retention: Annotated[str | None, typer.Option(help="Default retention: permanent, 30y, 10y.")] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Resume journal (default: under ~/.local/state/archive-ledger).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=16, help="Concurrent uploads.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Upload files with metadata from sidecars (metadata.csv / metadata.json / <file>.json).

    Re-running skips what is already ingested (journal, and the node's content hash + path check)."""
    from hashlib import sha256

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from anchor.errors import LedgerError
    from node.ingest.batch import Journal, plan, run_ingest

    given = {"fonds": fonds, "category": category, "year": year, "retention": retention}
    defaults = {k: v for k, v in given.items() if v is not None}
    if journal is None:
        state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "archive-ledger"
        journal = state / f"ingest-{sha256(node.encode()).hexdigest()[:12]}.jsonl"
    try:
        work = list(plan(paths, defaults))
        with node_client(node, "integrator", api_key_file=api_key_file) as client:
            log = Journal(journal)
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                disable=quiet, transient=False,
            ) as progress:  # fmt: skip
                task = progress.add_task("ingest", total=len(work))
                summary = run_ingest(client, work, log, workers=jobs, on_done=lambda _j, _o: progress.advance(task))
            log.close()
    except LedgerError as exc:
        fail(f"{exc} (re-run the same command to resume)")
    for path, reason in summary.failures:
        typer.secho(f"failed: {path}: {reason}", fg=typer.colors.RED, err=True)
    typer.echo(
        f"ingested {summary.ingested}, skipped {summary.skipped} (already in the archive), "
        f"failed {summary.failed}; {summary.bytes / 1e6:.1f} MB uploaded"
    )
    if summary.failed:
        raise typer.Exit(1)
