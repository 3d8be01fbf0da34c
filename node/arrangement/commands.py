"""Arrangement 件/卷/盒 and metadata edits (over HTTP, as a logged-in archivist)."""

from __future__ import annotations

import json
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
    fail,
)

volumes_app = typer.Typer(no_args_is_help=True, help="Volumes (卷): create, list, show.")
boxes_app = typer.Typer(no_args_is_help=True, help="Boxes (盒) and their storeroom locations: create, list.")
items_app = typer.Typer(no_args_is_help=True, help="Items: move into a volume or box, edit metadata (new version).")


def _print_volume(v: dict[str, Any]) -> None:
    box = v.get("box")
    where = f" in box {box['code']} ({box['storeroom']} {box['shelf']} {box['position']})".rstrip() if box else ""
    typer.echo(f"{v['id']}  {v['archival_code'] or '-'}  {v['fonds']}/{v['category']}/{v['year']}/{v['retention']}  "
               f"{v['title']}  [{v['item_count']} item(s)]{where}")  # fmt: skip


@volumes_app.command("create")
def volumes_create(
    title: Annotated[str, typer.Argument(help="Title of the volume (案卷题名).")],
    category: Annotated[str, typer.Option(help="Category (门类), e.g. WS.")],
    year: Annotated[int, typer.Option(help="Year.")],
    retention: Annotated[str, typer.Option(help="permanent (永久, Y), 30y, 10y.")],
    fonds: Annotated[str, typer.Option(help="Fonds code.")] = "Z001",
    code: Annotated[str | None, typer.Option("--code", help="Archival reference code of the volume.")] = None,
    box: Annotated[str | None, typer.Option(help="Box id.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Create a volume; it is a `volume.arranged` record in the fonds' log."""
    body = {"fonds": fonds, "category": category, "year": year, "retention": retention, "title": title,
            "archival_code": code, "box": box}  # fmt: skip
    v = call_node(
        node, api_key_file, "POST", "/volumes", token=token, json={k: x for k, x in body.items() if x is not None}
    )
    emit(v) if as_json else _print_volume(v)


@volumes_app.command("list")
def volumes_list(
    fonds: Annotated[str | None, typer.Option(help="Fonds code.")] = None,
    category: Annotated[str | None, typer.Option(help="Category (门类).")] = None,
    year: Annotated[int | None, typer.Option(help="Year.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    params = {k: v for k, v in (("fonds", fonds), ("category", category), ("year", year)) if v is not None}
    data = call_node(node, api_key_file, "GET", "/volumes", token=token, params=params)
    if as_json:
        emit(data)
        return
    for v in data["volumes"]:
        _print_volume(v)
    typer.echo(f"{data['total']} volume(s)")


@volumes_app.command("show")
def volumes_show(
    volume_id: str, node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """A volume and its items (in archival-code order)."""
    data = call_node(node, api_key_file, "GET", f"/volumes/{volume_id}/items", token=token)
    if as_json:
        emit(data)
        return
    _print_volume(data["volume"])
    for item in data["items"]:
        typer.echo(f"  {item['id']}  {item['archival_code'] or '-'}  {item['title']}")


@boxes_app.command("create")
def boxes_create(
    code: Annotated[str, typer.Argument(help="Box code (盒号), unique in the fonds.")],
    fonds: Annotated[str, typer.Option(help="Fonds code.")] = "Z001",
    storeroom: Annotated[str, typer.Option(help="Storeroom (库房).")] = "",
    shelf: Annotated[str, typer.Option(help="Shelf (架).")] = "",
    position: Annotated[str, typer.Option(help="Position on the shelf.")] = "",
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    body = {"fonds": fonds, "code": code, "storeroom": storeroom, "shelf": shelf, "position": position}
    b = call_node(node, api_key_file, "POST", "/boxes", token=token, json=body)
    emit(b) if as_json else typer.echo(f"box {b['code']} ({b['id']}) in {b['storeroom']} {b['shelf']} {b['position']}")


@boxes_app.command("list")
def boxes_list(
    fonds: Annotated[str | None, typer.Option(help="Fonds code.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    data = call_node(node, api_key_file, "GET", "/boxes", token=token, params={"fonds": fonds} if fonds else {})
    if as_json:
        emit(data)
        return
    for b in data["boxes"]:
        typer.echo(f"{b['id']}  {b['fonds']}  {b['code']}  {b['storeroom']} {b['shelf']} {b['position']}".rstrip())
    typer.echo(f"{data['total']} box(es)")


@items_app.command("move")
def items_move(
    item_id: str,
    volume: Annotated[str | None, typer.Option(help="Volume id ('none': out of its volume).")] = None,
    box: Annotated[str | None, typer.Option(help="Box id ('none': out of its box).")] = None,
    force: Annotated[bool, typer.Option(help="Into a volume of another category, year or retention.")] = False,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Place an item in a volume and/or a box: an `item.arranged` record in the fonds' log."""
    if volume is None and box is None:
        fail("give --volume and/or --box", 2)
    body: dict[str, Any] = {"force": force}
    for key, value in (("volume", volume), ("box", box)):
        if value is not None:
            body[key] = None if value.lower() == "none" else value
    data = call_node(node, api_key_file, "POST", f"/items/{item_id}/move", token=token, json=body)
    if as_json:
        emit(data)
        return
    where = f"volume {data['volume_code'] or data['volume_id'] or '-'}, box {data['box_code'] or '-'}"
    typer.echo(f"item {item_id}: {where}" + (f" (record {data['leaf_index']})" if data["changed"] else " (unchanged)"))


def _parse_value(text: str) -> Any:
    """--set values: JSON literals (numbers, true/false, null) as such, anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


@items_app.command("edit")
def items_edit(
    item_id: str,
    set_: Annotated[list[str] | None, typer.Option("--set", help="key=value (extra.key=value); repeatable.")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Key to remove; repeatable.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the metadata changes.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """A new metadata version (an `item.metadata_updated` record); the earlier records stay provable."""
    changes: dict[str, Any] = {}
    for pair in set_ or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--set takes key=value, not {pair!r}", 2)
        changes[key.strip()] = _parse_value(value)
    if not changes and not unset:
        fail("give --set and/or --unset", 2)
    body = {"set": changes, "unset": unset or [], "reason": reason}
    data = call_node(node, api_key_file, "PATCH", f"/items/{item_id}/metadata", token=token, json=body)
    if as_json:
        emit(data)
    elif data["changed"]:
        typer.echo(f"item {item_id}: metadata version {data['version']} (record {data['leaf_index']}, "
                   f"metadata_sha256 {data['metadata_sha256']})")  # fmt: skip
    else:
        typer.echo(f"item {item_id}: unchanged (version {data['version']})")
