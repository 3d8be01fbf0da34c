"""Operator commands run on the node's own machine: init, serve, the dev chain."""

from __future__ import annotations

from typing import Annotated

import typer

from node.core.cli import (
    DEFAULT_DATA,
    DataDir,
    fail,
)

dev_chain = typer.Typer(no_args_is_help=True, help="The persistent local ganache of the dev profile.")


def init(
    data_dir: DataDir = DEFAULT_DATA,
    profile: Annotated[str, typer.Option(help="Chain profile (chain-config/<name>.toml).")] = "dev",
    fonds: Annotated[str, typer.Option(help="Default fonds code (全宗号).")] = "Z001",
    rpc_url: Annotated[str, typer.Option(help="Override the profile's JSON-RPC URL.")] = "",
    archive_name: Annotated[str, typer.Option("--archive-name", help="The archive's name in the trust root.")] = "",
) -> None:
    """Create the data dir, keys, database and API key; deploy the contracts; record addresses; write
    trust root version 1 (signed by the verifier key and the three officers)."""
    from node.core.bootstrap import initialise

    try:
        summary = initialise(data_dir, profile_name=profile, default_fonds=fonds, rpc_url=rpc_url,
                             archive_name=archive_name)  # fmt: skip
    except Exception as exc:
        fail(str(exc))
    typer.echo(f"initialised {summary['data_dir']}")
    for key in ("chain_id", "contract_address", "anchor_account", "api_key_file", "verifier_public_key", "trust_root"):
        typer.echo(f"  {key}: {summary[key]}")


def serve(
    data_dir: DataDir = DEFAULT_DATA,
    host: Annotated[str | None, typer.Option(help="Bind address (default from config: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config: 8400).")] = None,
) -> None:
    """Run the node (HTTP API + scheduled anchoring) until interrupted."""
    import uvicorn

    from node.app import create_app
    from node.core.context import NodeContext
    from node.core.db import migrate
    from node.core.settings import load_settings

    if not (data_dir / "config.toml").exists():
        fail(f"{data_dir} is not initialised: run `archive-ledger init --data-dir {data_dir}` first")
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = load_settings(data_dir, **overrides)
    try:
        migrate(settings.db_url)  # an upgraded node brings its schema up to date before serving
        ctx = NodeContext.build(settings)
    except Exception as exc:
        fail(str(exc))
    uvicorn.run(create_app(ctx), host=settings.host, port=settings.port, log_level="info")


@dev_chain.command("start")
def dev_chain_start(data_dir: DataDir = DEFAULT_DATA, profile: str = "dev") -> None:
    """Start (or find running) the persistent ganache under the data dir."""
    from anchor import devchain
    from anchor.profiles import load_profile

    try:
        url = devchain.start(data_dir, load_profile(profile))
    except Exception as exc:
        fail(str(exc))
    typer.echo(f"dev chain running at {url}")


@dev_chain.command("stop")
def dev_chain_stop(data_dir: DataDir = DEFAULT_DATA) -> None:
    from anchor import devchain

    devchain.stop(data_dir)
    typer.echo("dev chain stopped")


@dev_chain.command("status")
def dev_chain_status(data_dir: DataDir = DEFAULT_DATA) -> None:
    from anchor import devchain

    state = devchain.status(data_dir)
    typer.echo(state.describe())
    raise typer.Exit(0 if state.running else 1)
