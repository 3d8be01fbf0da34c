"""archive-ledger: the operator and integrator command line. Thin: parse, call, print."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
dev_chain = typer.Typer(no_args_is_help=True, help="The persistent local ganache of the dev profile.")
app.add_typer(dev_chain, name="dev-chain")

DataDir = Annotated[
    Path, typer.Option("--data-dir", envvar="ARCHIVE_LEDGER_DATA_DIR", help="Node data directory.")
]
NodeUrl = Annotated[
    str, typer.Option("--node", envvar="ARCHIVE_LEDGER_NODE", help="Base URL of a running node.")
]
ApiKeyFile = Annotated[
    Path,
    typer.Option("--api-key-file", envvar="ARCHIVE_LEDGER_API_KEY_FILE",
                 help="0600 file holding the API key (or set ARCHIVE_LEDGER_API_KEY)."),
]  # fmt: skip
DEFAULT_DATA = Path("data")
DEFAULT_NODE = "http://127.0.0.1:8400"
DEFAULT_KEY_FILE = DEFAULT_DATA / "secrets" / "api-key"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _client(node: str, key_file: Path):  # type: ignore[no-untyped-def]
    from node.client import NodeClient, read_api_key

    return NodeClient(node, read_api_key(key_file))


# -- operator commands -------------------------------------------------------------------------
@app.command()
def init(
    data_dir: DataDir = DEFAULT_DATA,
    profile: Annotated[str, typer.Option(help="Chain profile (chain-config/<name>.toml).")] = "dev",
    fonds: Annotated[str, typer.Option(help="Default fonds code (全宗号).")] = "Z001",
    rpc_url: Annotated[str, typer.Option(help="Override the profile's JSON-RPC URL.")] = "",
) -> None:
    """Create the data dir, keys, database and API key; deploy the contracts; record addresses."""
    from node.bootstrap import initialise

    try:
        summary = initialise(data_dir, profile_name=profile, default_fonds=fonds, rpc_url=rpc_url)
    except Exception as exc:
        fail(str(exc))
    typer.echo(f"initialised {summary['data_dir']}")
    for key in ("chain_id", "contract_address", "anchor_account", "api_key_file", "verifier_public_key"):
        typer.echo(f"  {key}: {summary[key]}")


@app.command()
def serve(
    data_dir: DataDir = DEFAULT_DATA,
    host: Annotated[str | None, typer.Option(help="Bind address (default from config: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config: 8400).")] = None,
) -> None:
    """Run the node (HTTP API + scheduled anchoring) until interrupted."""
    import uvicorn

    from node.app import create_app
    from node.context import NodeContext
    from node.settings import load_settings

    if not (data_dir / "config.toml").exists():
        fail(f"{data_dir} is not initialised: run `archive-ledger init --data-dir {data_dir}` first")
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = load_settings(data_dir, **overrides)
    try:
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


# -- integrator commands (over HTTP) -----------------------------------------------------------
@app.command()
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
    from node.batch import Journal, plan, run_ingest

    given = {"fonds": fonds, "category": category, "year": year, "retention": retention}
    defaults = {k: v for k, v in given.items() if v is not None}
    if journal is None:
        state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "archive-ledger"
        journal = state / f"ingest-{sha256(node.encode()).hexdigest()[:12]}.jsonl"
    try:
        work = list(plan(paths, defaults))
        with _client(node, api_key_file) as client:
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


@app.command()
def anchor(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE) -> None:
    """Checkpoint every log with new records now, wait for confirmation, print the transaction."""
    from anchor.errors import LedgerError

    try:
        with _client(node, api_key_file) as client:
            report = client.anchor()
    except LedgerError as exc:
        fail(str(exc))
    if report["submitted"]:
        typer.echo(f"anchored {report['submitted']['logs']} log(s) in tx {report['submitted']['tx_hash']}")
        for cp in report["checkpoints"]:
            typer.echo(f"  log {cp['log_id'][:16]}… size {cp['tree_size']} root {cp['root']}")
    else:
        typer.echo("nothing new to anchor")
    for line in report["reconciled"]:
        typer.echo(f"  reconciled: {line}")


@app.command()
def proof(
    item_id: str,
    node: NodeUrl = DEFAULT_NODE,
    against: Annotated[str, typer.Option(help="first (never changes) or latest checkpoint.")] = "first",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the bundle here.")] = None,
) -> None:
    """Fetch the proof bundle of an item."""
    from anchor.errors import LedgerError
    from node.client import NodeClient

    try:
        with NodeClient(node, None) as client:
            bundle = client.proof(item_id, against)
    except LedgerError as exc:
        fail(str(exc))
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@app.command()
def verify(
    file: Annotated[Path | None, typer.Argument(help="The file to check (omit with --sha256).")] = None,
    proof: Annotated[Path, typer.Option("--proof", help="Proof bundle JSON.")] = Path("proof.json"),
    rpc: Annotated[
        str, typer.Option("--rpc", envvar="ARCHIVE_LEDGER_RPC_URL", help="Chain JSON-RPC URL.")
    ] = ("http://127.0.0.1:8545"),
    sha256: Annotated[str | None, typer.Option(help="Check against this digest instead of a file.")] = None,
    confirmations: Annotated[int, typer.Option(help="Blocks required on top (incl. the tx block).")] = 1,
    chain_id: Annotated[int | None, typer.Option(help="Trusted chain id.")] = None,
    contract: Annotated[str | None, typer.Option(help="Trusted ArchiveAnchor address.")] = None,
    certificate: Annotated[Path | None, typer.Option(help="Also write a signed certificate here.")] = None,
    signing_key: Annotated[Path | None, typer.Option(help="Ed25519 key file for --certificate.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Exit 0: authentic; 1: not authentic; 2: could not check (e.g. chain unreachable)."""
    from verifier.chain import JsonRpcChain
    from verifier.verify import verify_bundle

    try:
        bundle = json.loads(proof.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read proof bundle {proof}: {exc}", 2)
    if (file is None) == (sha256 is None):
        fail("give either the FILE to check or --sha256 (one of them)", 2)
    if sha256 is not None and len(sha256) != 64:
        fail("--sha256 takes 64 hex characters", 2)
    if file is not None and not file.is_file():
        fail(f"{file} is not a readable file", 2)
    if certificate is not None and signing_key is None:
        fail("--certificate needs --signing-key", 2)
    stream = file.open("rb") if file is not None else None
    try:
        result = verify_bundle(
            bundle, content=stream, content_sha256=sha256.lower() if sha256 else None, chain=JsonRpcChain(rpc),
            confirmations=confirmations, expected_chain_id=chain_id, expected_contract=contract,
        )  # fmt: skip
    finally:
        if stream:
            stream.close()
    if as_json:
        emit(result.to_dict())
    else:
        for step in result.steps:
            mark = {True: "ok  ", False: "FAIL", None: "--  "}[step.ok]
            typer.echo(f"[{mark}] {step.name}: {step.message}")
        typer.echo(f"{result.outcome.upper()}" + (f": {result.message}" if result.exit_code else ""))
    if certificate is not None and signing_key is not None:
        from verifier.certificate import issue_certificate, load_signing_key

        cert = issue_certificate(
            result, bundle, load_signing_key(signing_key), datetime.now(UTC), issuer="cli"
        )
        certificate.write_text(json.dumps(cert, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    raise typer.Exit(result.exit_code)


@app.command("verify-certificate")
def verify_certificate_cmd(
    cert: Annotated[Path, typer.Argument(help="Certificate JSON.")],
    public_key: Annotated[str | None, typer.Option(help="Trusted verifier public key (hex).")] = None,
) -> None:
    """Check a certificate's signature offline. Exit 0: valid and authentic; 1: bad signature or
    not authentic; 2: validly signed but the verification it records was indeterminate."""
    from verifier.certificate import verify_certificate
    from verifier.errors import VerifierError

    try:
        payload = verify_certificate(
            json.loads(cert.read_text(encoding="utf-8")), trusted_public_key=public_key
        )
    except (OSError, ValueError) as exc:
        fail(f"cannot read certificate {cert}: {exc}")
    except VerifierError as exc:
        fail(f"certificate rejected: {exc}")
    outcome = payload.get("result", payload).get("outcome", "unknown")
    typer.echo(
        f"signature valid (key {payload.get('public_key', public_key or 'embedded')}); outcome: {outcome}"
    )
    if public_key is None:
        typer.echo(
            "note: no --public-key given: the signature was checked against the key in the certificate"
        )
    raise typer.Exit({"authentic": 0, "indeterminate": 2}.get(outcome, 1))


@app.command()
def checks(
    package: Annotated[Path, typer.Argument(help="Directory or ZIP with manifest.csv/json, or a BagIt bag.")],
    fonds: Annotated[str | None, typer.Option(help="Fonds whose policy applies (default: the items' fonds).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: node/checks/policies).")] = None,
    clamd_socket: Annotated[
        str | None, typer.Option(envvar="ARCHIVE_LEDGER_CLAMD_SOCKET", help="clamd socket (else clamscan).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Four-properties checks (DA/T 70-2018) of a transfer package, locally and without filing.

    Exit 0: nothing blocks under the policy; 1: something blocks; 2: the package cannot be opened."""
    from node.checks.antivirus import VirusScanner
    from node.checks.engine import CheckConfig, check_package, default_process
    from node.checks.package import PackageError, load_package
    from node.checks.policy import apply, load_policy

    try:
        loaded = load_package(package)
    except (PackageError, OSError, ValueError) as exc:
        fail(f"cannot open package {package}: {exc}", 2)
    with loaded as pkg:
        config = CheckConfig(scanner=VirusScanner(clamd_socket=clamd_socket))
        report = check_package(
            pkg.items, package=pkg.name, manifest=pkg.facts, config=config, process=default_process(),
            package_files=pkg.files,
        )  # fmt: skip
    fonds_codes = {str(i.metadata.get("fonds_code")) for i in pkg.items if i.metadata.get("fonds_code")}
    chosen = fonds or (fonds_codes.pop() if len(fonds_codes) == 1 else None)
    blocked = apply(report, load_policy(chosen, policy))
    if as_json:
        emit(dict(report.to_dict(), digest=report.digest()))
    else:
        typer.echo(report.to_text())
    raise typer.Exit(1 if blocked else 0)


@app.command()
def status(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE) -> None:
    """Log sizes, last checkpoints, records waiting for anchoring, chain height."""
    from anchor.errors import LedgerError

    try:
        with _client(node, api_key_file) as client:
            data = client.status()
    except LedgerError as exc:
        fail(str(exc))
    chain = data["chain"]
    typer.echo(
        f"chain {chain['chain_id']}: " + (f"block {chain['block']}" if chain["reachable"] else "UNREACHABLE")
    )
    typer.echo(f"contract: {data['contract']}")
    for log in data["logs"]:
        last = log["last_checkpoint"]
        typer.echo(
            f"fonds {log['fonds']}: {log['size']} records, {log['anchored_size']} anchored, "
            f"{log['pending_records']} pending"
            + (f"; last checkpoint tx {last['tx_hash']} block {last['block_number']}" if last else "")
        )
    if data["anchoring"]["last_error"]:
        anchoring = data["anchoring"]
        typer.echo(f"anchoring: {anchoring['consecutive_failures']} failure(s): {anchoring['last_error']}")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
