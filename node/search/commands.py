"""`archive-ledger search QUERY` (over HTTP, as the caller) and `search reindex` (on the data dir).

`search` is a group whose unknown first word is the query: `archive-ledger search 码头合同 --fonds A001`
runs the hidden `query` command; `search reindex` and `search status` (text extraction progress) are
subcommands. A query that is itself a subcommand's name is given as `search query WORD`."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from node.core.cli import (
    DEFAULT_DATA,
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    AsJson,
    DataDir,
    NodeUrl,
    Token,
    call_node,
    emit,
    fail,
)


class _QueryByDefault(TyperGroup):
    """A group whose first argument, when it is no subcommand, is the query of `search query`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["query", *args]
        return super().parse_args(ctx, args)


search_app = typer.Typer(
    cls=_QueryByDefault, no_args_is_help=True,
    help="Search the archive: `search QUERY [--fonds F] [--json]`; `search status` shows text extraction; "
    "`search reindex` rebuilds the index.",
)  # fmt: skip


# -- search QUERY -----------------------------------------------------------------------
@search_app.command("query", hidden=True)
def search_query(
    query: Annotated[str, typer.Argument(help="Words, \"phrases\", AND/OR/NOT, 题名: 责任者: 档号: 文号: 全文:")],
    fonds: Annotated[str | None, typer.Option(help="全宗 (comma-separated for several).")] = None,
    category: Annotated[str | None, typer.Option(help="门类.")] = None,
    year_from: Annotated[int | None, typer.Option(help="年度 from.")] = None,
    year_to: Annotated[int | None, typer.Option(help="年度 to.")] = None,
    retention: Annotated[str | None, typer.Option(help="保管期限: permanent, 30y, 10y.")] = None,
    sort: Annotated[str, typer.Option(help="relevance | date | reference_code.")] = "relevance",
    limit: Annotated[int, typer.Option(help="Results per page (1-100).")] = 20,
    offset: Annotated[int, typer.Option(help="Results to skip.")] = 0,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Search as the caller (GET /search): what they may see, nothing else."""
    params: dict[str, Any] = {"q": query, "sort": sort, "limit": limit, "offset": offset}
    for key, value in (("fonds", fonds), ("category", category), ("year_from", year_from), ("year_to", year_to),
                       ("retention", retention)):  # fmt: skip
        if value is not None:
            params[key] = value
    data = call_node(node, api_key_file, "GET", "/search", token=token, params=params)
    if as_json:
        emit(data)
        return
    typer.echo(f"{data['total']} result(s)")
    for item in data["items"]:
        typer.echo(f"{item['reference_code'] or '-'}  {item['title']}  ({item['fonds']} {item['year']} "
                   f"{item['category']} {item['retention']})  {item['id']}")  # fmt: skip
        if item["highlights"].get("text"):
            typer.echo(f"    {item['highlights']['text']}")
    for name, counts in data["facets"].items():
        if counts:
            typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@search_app.command("reindex")
def search_reindex(data_dir: DataDir = DEFAULT_DATA, as_json: AsJson = False) -> None:
    """Rebuild the search index from the tables (items, arrangement, extracted texts) into a new generation
    and switch to it; a running node picks it up at its next search. Nothing is re-extracted."""
    import time

    from anchor.db import make_engine, make_session_factory
    from node.core.settings import load_settings
    from node.search.service import SearchService

    settings = load_settings(data_dir)
    engine = make_engine(settings.db_url)
    try:
        service = SearchService(settings.data_dir / "search", make_session_factory(engine),
                                make_session_factory(engine, readonly=True))  # fmt: skip
        started = time.monotonic()
        count = service.rebuild()
        seconds = time.monotonic() - started
    finally:
        engine.dispose()
    if as_json:
        emit({"items": count, "seconds": round(seconds, 3)})
    else:
        typer.echo(f"search index rebuilt: {count} item(s) in {seconds:.1f} s")


# -- text extraction (issue 10 point 1): `search status` ------------------------------------------------------
@search_app.command("status")
def search_status(
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Text extraction progress: items total, done, pending, skipped, failed; whether OCR is installed
    (and how to install it); the last failures. Read from GET /status."""
    data = call_node(node, api_key_file, "GET", "/status", token=token).get("extraction")
    if data is None:
        fail("this node reports no text extraction (an older version)")
    if as_json:
        emit(data)
        return
    for line in extraction_lines(data):
        typer.echo(line)


def extraction_lines(data: dict[str, Any]) -> list[str]:
    """The human form of the `extraction` section of GET /status."""
    total = data["total"]
    share = f" ({100 * data['done'] // total}%)" if total else ""
    lines = [
        f"text extraction: {'enabled' if data['enabled'] else 'DISABLED'}, every {data['interval_s']:g} s",
        f"items: {total} total, {data['done']} done{share}, {data['pending']} pending, {data['skipped']} skipped, "
        f"{data['failed']} failed",
    ]
    ocr = data["ocr"]
    lines.append(f"OCR: available ({ocr['message']})" if ocr["available"] else f"OCR: NOT available: {ocr['message']}")
    last = data.get("last_run")
    if last:
        lines.append(f"last pass {last['started_at']}: {last['items']} item(s) in {last['seconds']:g} s, "
                     f"{last['done']} done, {last['skipped']} skipped, {last['failed']} failed"
                     + ("" if last["complete"] else ", more pending"))  # fmt: skip
    if data.get("last_error"):
        lines.append(f"last pass error: {data['last_error']}")
    for err in data.get("last_errors") or []:
        state = "FAILED" if err["status"] == "failed" else f"retrying (attempt {err['attempts']})"
        lines.append(f"{state} item {err['item_id']}: {err['message']}")
    return lines
