"""archive-ledger: the operator and integrator command line. Thin: parse, call, print."""

from __future__ import annotations

import contextlib
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

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="ARCHIVE_LEDGER_DATA_DIR", help="Node data directory.")]
NodeUrl = Annotated[str, typer.Option("--node", envvar="ARCHIVE_LEDGER_NODE", help="Base URL of a running node.")]
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
    archive_name: Annotated[str, typer.Option("--archive-name", help="The archive's name in the trust root.")] = "",
) -> None:
    """Create the data dir, keys, database and API key; deploy the contracts; record addresses; write
    trust root version 1 (signed by the verifier key and the three officers)."""
    from node.bootstrap import initialise

    try:
        summary = initialise(data_dir, profile_name=profile, default_fonds=fonds, rpc_url=rpc_url,
                             archive_name=archive_name)  # fmt: skip
    except Exception as exc:
        fail(str(exc))
    typer.echo(f"initialised {summary['data_dir']}")
    for key in ("chain_id", "contract_address", "anchor_account", "api_key_file", "verifier_public_key", "trust_root"):
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
    from node.db import migrate
    from node.settings import load_settings

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
    from node.client import NodeRequestError

    try:
        with _client(node, api_key_file) as client:
            report = client.anchor()
    except NodeRequestError as exc:
        if exc.reason == "chain_unavailable":  # nothing was anchored; the records wait, safe to re-run
            fail(f"chain unavailable, nothing anchored (records stay pending; re-run when the chain is back): {exc}")
        fail(str(exc))
    except LedgerError as exc:
        fail(str(exc))
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


TrustFile = Annotated[
    Path | None,
    typer.Option("--trust", envvar="ARCHIVE_LEDGER_TRUST",
                 help="The trust root you pinned (`archive-ledger trust export` / GET /trust)."),
]  # fmt: skip


@app.command()
def verify(
    file: Annotated[Path | None, typer.Argument(help="The file to check (omit with --sha256).")] = None,
    proof: Annotated[Path, typer.Option("--proof", help="Proof bundle JSON.")] = Path("proof.json"),
    trust: TrustFile = None,
    rpc: Annotated[list[str] | None, typer.Option(
        "--rpc", help="Chain JSON-RPC URL; repeat it to ask several nodes, which must all agree "
        "(default: ARCHIVE_LEDGER_RPC_URL, else the trust root's rpc_endpoints).")] = None,
    sha256: Annotated[str | None, typer.Option(help="Check against this digest instead of a file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Exit 0: authentic; 1: not authentic; 2: could not check (no trust root, chain unreachable ...).
    The contract, chain and confirmations come from the trust root, never from the bundle."""
    from verifier.cli import main as verifier_main

    argv = ["verify", *([str(file)] if file is not None else []), "--proof", str(proof)]
    if trust is not None:
        argv += ["--trust", str(trust)]
    for url in rpc or []:
        argv += ["--rpc", url]
    if sha256 is not None:
        argv += ["--sha256", sha256]
    if as_json:
        argv.append("--json")
    raise typer.Exit(verifier_main(argv))


@app.command("verify-certificate")
def verify_certificate_cmd(
    cert: Annotated[Path, typer.Argument(help="Certificate JSON.")],
    trust: TrustFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a certificate offline against the trust root: its key must be one the trust root lists for
    the certificate's issue time. Exit 0: valid and authentic; 1: rejected or not authentic; 2: validly
    signed but the verification it records was indeterminate, or no trust root."""
    from verifier.cli import main as verifier_main

    argv = ["verify-certificate", str(cert)]
    if trust is not None:
        argv += ["--trust", str(trust)]
    if as_json:
        argv.append("--json")
    code = verifier_main(argv)
    if code in (0, 2) and not as_json:
        _print_certificate_permit(cert)
    raise typer.Exit(code)


def _print_certificate_permit(cert: Path) -> None:
    """A loan certificate (already checked) also names the read permit it is about: say which."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        payload = json.loads(cert.read_text(encoding="utf-8"))["payload"]
        permit = payload.get("permit")
        if not isinstance(permit, dict):
            return
        record = payload.get("bundle", {}).get("record", {})
        typer.echo(f"item record: {record.get('item_id')} (content_sha256 {record.get('content_sha256')})")
        typer.echo(
            f"permit {permit.get('permit_id')}: approver {permit.get('approver')}, "
            f"tx {permit.get('tx_hash')} (block {permit.get('block_number')}, chain {permit.get('chain_id')}, "
            f"contract {permit.get('contract')})"
        )
        typer.echo(
            f"  valid {permit.get('not_before_iso')} .. {permit.get('expires_at_iso')}; "
            f"grantee {permit.get('grantee')}; loan {permit.get('loan_id')}"
        )
        typer.echo("  (online: `archive-ledger permit show PERMIT_ID --rpc URL --contract ADDRESS` reads it from the "
                   "chain)")


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
    from node.filing import assign_codes, scope_text

    try:
        loaded = load_package(package)
    except (PackageError, OSError, ValueError) as exc:
        fail(f"cannot open package {package}: {exc}", 2)
    with loaded as pkg:
        config = CheckConfig(scanner=VirusScanner(clamd_socket=clamd_socket))
        # As filing does: items without a number get the next of their scope (here counted from the
        # rule's start, as in an empty archive; the node continues its own counters).
        expected = assign_codes(pkg.items, config, counters={})
        report = check_package(
            pkg.items, package=pkg.name, manifest=pkg.facts, config=config, process=default_process(),
            package_files=pkg.files, expected_start=lambda scope: expected.get(scope_text(scope), 1),
        )  # fmt: skip
    fonds_codes = {str(i.metadata.get("fonds_code")) for i in pkg.items if i.metadata.get("fonds_code")}
    chosen = fonds or (fonds_codes.pop() if len(fonds_codes) == 1 else None)
    blocked = apply(report, load_policy(chosen, policy))
    if as_json:
        emit(dict(report.to_dict(), digest=report.digest()))
    else:
        typer.echo(report.to_text())
    raise typer.Exit(1 if blocked else 0)


@app.command("file")
def file_cmd(
    package: Annotated[Path, typer.Argument(help="Directory (zipped on the fly) or ZIP with a manifest; or a bag.")],
    node: NodeUrl = DEFAULT_NODE,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the node's answer as JSON.")] = False,
) -> None:
    """File a transfer package on the node (POST /packages): checked as a whole, all items or none.

    Exit 0: filed (or filed before: the same package is not filed twice); 1: rejected by the checks
    (nothing filed); 2: the package could not be sent or opened."""
    import tempfile

    from node.client import NodeClient, NodeRequestError, read_credential, zip_directory
    from node.filing import report_from_dict

    try:
        client = NodeClient(node, read_credential(api_key_file))
    except Exception as exc:  # e.g. an API key file readable by others
        fail(str(exc), 2)
    with client, tempfile.TemporaryDirectory(prefix="archive-ledger-file-") as tmp:
        try:
            if package.is_dir():
                upload = zip_directory(package, Path(tmp) / f"{package.name}.zip")
            elif package.is_file():
                upload = package
            else:
                fail(f"no package at {package}", 2)
            answer = client.file_package(upload, name=upload.name)
        except NodeRequestError as exc:
            fail(str(exc), 2)
        except OSError as exc:
            fail(f"cannot read package {package}: {exc}", 2)
    if as_json:
        emit(answer)
    else:
        typer.echo(report_from_dict(answer["report"]).to_text())
        again = " (sent before: not filed again)" if answer.get("duplicate") else ""
        typer.echo(f"package {answer['id']}: {answer['status']}{again}")
        for item in answer.get("items") or []:
            typer.echo(f"  filed {item['id']}  {item['archival_code'] or '-'}  {item['source_path']}")
    raise typer.Exit(0 if answer["status"] == "FILED" else 1)


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
    typer.echo(f"chain {chain['chain_id']}: " + (f"block {chain['block']}" if chain["reachable"] else "UNREACHABLE"))
    typer.echo(f"contract: {data['contract']}")
    for log in data["logs"]:
        last = log["last_checkpoint"]
        typer.echo(
            f"fonds {log['fonds']}: {log['size']} records, {log['anchored_size']} anchored, "
            f"{log['pending_records']} pending"
            + (f" ({log['lost_checkpoints']} checkpoint(s) lost in a chain rollback)" if log.get("lost_checkpoints")
               else "")
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


# -- loans and permits (over HTTP, as a logged-in user; `permit show --rpc` reads the chain) --------
loan_app = typer.Typer(no_args_is_help=True, help="Loans: request, decide, revoke, return, list, show.")
permit_app = typer.Typer(no_args_is_help=True, help="Read permits on chain.")
app.add_typer(loan_app, name="loan")
app.add_typer(permit_app, name="permit")

Token = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="ARCHIVE_LEDGER_TOKEN", help="Login token (alt_...), else login token file, else API key"
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="File holding your password (else $ARCHIVE_LEDGER_PASSWORD, else asked)."),
]


def _print_loan(loan: dict[str, Any]) -> None:
    typer.echo(f"loan {loan['id']}: {loan['status']}" + (f" ({loan['reason']})" if loan.get("reason") else ""))
    typer.echo(f"  borrower {loan['borrower_id']}; purpose: {loan['purpose']}")
    typer.echo(f"  period {loan['not_before']} .. {loan['expires_at']}")
    if loan.get("decided_by"):
        typer.echo(f"  decided by {loan['decided_by']} ({loan.get('approver_address') or '-'}) at {loan['decided_at']}")
    for item in loan["items"]:
        line = f"  item {item['item_id']} [{item['medium']}] {item['title']}"
        if item.get("permit_id"):
            line += f"\n    permit {item['permit_id']} tx {item['tx_hash']}"
        if item.get("revoke_tx_hash"):
            line += f" revoked in tx {item['revoke_tx_hash']}"
        typer.echo(line)


@loan_app.command("request")
def loan_request(
    purpose: Annotated[str, typer.Option(help="Why you need the records.")],
    items: Annotated[list[str] | None, typer.Argument(help="Item ids.")] = None,
    volume: Annotated[str | None, typer.Option(help="A whole volume (卷): all the items arranged in it.")] = None,
    days: Annotated[float | None, typer.Option(help="Length of the loan in days.")] = None,
    until: Annotated[str | None, typer.Option(help="End of the loan (ISO 8601 with time zone).")] = None,
    not_before: Annotated[str | None, typer.Option(help="Start (ISO 8601 with time zone); default now.")] = None,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ask for items for a purpose and a period (--days or --until)."""
    if (days is None) == (until is None):
        fail("give exactly one of --days or --until", 2)
    if not items and volume is None:
        fail("give item ids and/or --volume", 2)
    body: dict[str, Any] = {"items": items or None, "volume": volume, "purpose": purpose, "days": days,
                            "expires_at": until, "not_before": not_before}  # fmt: skip
    loan = _as_person(
        node, token, api_key_file, "POST", "/loans", json={k: v for k, v in body.items() if v is not None}
    )
    emit(loan) if as_json else _print_loan(loan)


@loan_app.command("list")
def loan_list(
    status: Annotated[
        str | None, typer.Option(help="REQUESTED, APPROVED, REJECTED, RETURNED, EXPIRED, REVOKED.")
    ] = None,
    mine: Annotated[bool, typer.Option(help="Only my own loans.")] = False,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your loans (borrowers), or every loan (approvers, auditors, security officers)."""
    params: dict[str, Any] = {"mine": mine} | ({"status": status} if status else {})
    data = _as_person(node, token, api_key_file, "GET", "/loans", params=params)
    if as_json:
        emit(data)
        return
    for loan in data["loans"]:
        typer.echo(f"{loan['id']}  {loan['status']:<9}  {len(loan['items'])} item(s)  until {loan['expires_at']}  "
                   f"{loan['purpose'][:60]}")  # fmt: skip


@loan_app.command("show")
def loan_show(
    loan_id: str,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    loan = _as_person(node, token, api_key_file, "GET", f"/loans/{loan_id}")
    emit(loan) if as_json else _print_loan(loan)


@loan_app.command("approve")
def loan_approve(
    loan_id: str,
    password_file: PasswordFile = None,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sign the permits with your key (your password unlocks it for this request only); the node
    relays them, waits for confirmation and issues a certificate per item."""
    body = {"password": _password("password (unlocks your signing key for this request only)", password_file)}
    loan = _as_person(node, token, api_key_file, "POST", f"/loans/{loan_id}/approve", json=body)
    emit(loan) if as_json else _print_loan(loan)


@loan_app.command("reject")
def loan_reject(
    loan_id: str,
    reason: Annotated[str, typer.Option(help="Why (the borrower sees it).")],
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    _print_loan(_as_person(node, token, api_key_file, "POST", f"/loans/{loan_id}/reject", json={"reason": reason}))


@loan_app.command("revoke")
def loan_revoke(
    loan_id: str,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    password_file: PasswordFile = None,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    """Approver or security admin: access ends at once; the signed revocation goes on chain."""
    body = {
        "password": _password("password (unlocks your signing key for this request only)", password_file),
        "reason": reason,
    }
    _print_loan(_as_person(node, token, api_key_file, "POST", f"/loans/{loan_id}/revoke", json=body))


@loan_app.command("return")
def loan_return(
    loan_id: str, node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE
) -> None:
    """End your loan early: the node refuses its content from now on."""
    _print_loan(_as_person(node, token, api_key_file, "POST", f"/loans/{loan_id}/return"))


@loan_app.command("certificates")
def loan_certificates(
    loan_id: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for <item id>.cert.json files.")] = Path("."),
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    """Download the verifier's certificate of each lent item (check them with verify-certificate)."""
    data = _as_person(node, token, api_key_file, "GET", f"/loans/{loan_id}/certificates")
    out.mkdir(parents=True, exist_ok=True)
    for entry in data["certificates"]:
        if entry["certificate"] is None:
            typer.echo(f"item {entry['item_id']}: no certificate")
            continue
        path = out / f"{entry['item_id']}.cert.json"
        path.write_text(json.dumps(entry["certificate"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"wrote {path}")


@loan_app.command("slip")
def loan_slip(
    loan_id: str, node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE
) -> None:
    """The check-out slip of the physical records of an approved loan (box and shelf)."""
    slip = _as_person(node, token, api_key_file, "GET", f"/loans/{loan_id}/slip")
    typer.echo(f"CHECK-OUT SLIP  loan {slip['loan_id']}  due {slip['due']}")
    typer.echo(f"borrower {slip['borrower_id']}; approved by {slip['approved_by']} ({slip['approver_address']})")
    for r in slip["records"]:
        code = r.get("archival_code") or r["item_id"]
        typer.echo(f"  box {r.get('box') or '?':<12} shelf {r.get('shelf') or '?':<12} {code}  {r['title']}")


@permit_app.command("show")
def permit_show(
    permit_id: str,
    rpc: Annotated[
        str | None, typer.Option("--rpc", help="Read the chain directly at this JSON-RPC URL (no node needed).")
    ] = None,
    contract: Annotated[
        str | None, typer.Option(help="ReadPermits address for --rpc (default: permits_address of --data-dir).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    """A permit: from the node (its record and the chain's answer), or with --rpc from the chain
    alone: getPermit and isValid(permitId, now). Exit 0 if valid now, 1 if not."""
    pid = permit_id.lower().removeprefix("0x")
    if len(pid) != 64:
        fail("a permit id is 32 bytes (64 hex characters)", 2)
    if rpc is None:
        data = _as_person(node, token, api_key_file, "GET", f"/permits/{pid}")
        emit(data)
        raise typer.Exit(0 if data.get("chain", {}).get("valid_now") else 1)
    from web3 import HTTPProvider, Web3

    from contracts import load_artifact
    from node.permits import permit_view

    if contract is None:
        from node.settings import load_settings

        contract = load_settings(data_dir).permits_address if (data_dir / "config.toml").exists() else None
        if not contract:
            fail("give --contract (the ReadPermits address) or a --data-dir with permits_address", 2)
    artifact = load_artifact("ReadPermits")
    try:
        w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 10}))
        permits = w3.eth.contract(address=Web3.to_checksum_address(contract), abi=artifact["abi"])
        now = int(datetime.now(UTC).timestamp())
        block = w3.eth.get_block("latest")
        valid = permits.functions.isValid(bytes.fromhex(pid), int(block["timestamp"])).call()
        raw = permits.functions.getPermit(bytes.fromhex(pid)).call()
    except Exception as exc:
        fail(f"cannot read permit {pid} at {rpc}: {exc}")
    view = permit_view(raw, artifact)
    emit({"permit_id": pid, "contract": contract, "chain_id": w3.eth.chain_id, "block": block["number"],
          "block_time": int(block["timestamp"]), "now": now, "valid_now": bool(valid), **view})  # fmt: skip
    raise typer.Exit(0 if valid else 1)


# -- people, roles and the audit trail (over HTTP) ----------------------------------------------
users_app = typer.Typer(no_args_is_help=True, help="Accounts, roles, officer changes, API keys.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: verify, export (security auditor).")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", envvar="ARCHIVE_LEDGER_TOKEN_FILE",
                 help="Login token file (default ~/.config/archive-ledger/token)."),
]  # fmt: skip
PASSWORD_ENV = "ARCHIVE_LEDGER_PASSWORD"


def _session(node: str, key_file: Path, token_file: Path | None, token: str | None = None):  # type: ignore[no-untyped-def]
    """People's commands: --token, else the token of `archive-ledger login`, else the API key."""
    from node.client import NodeClient, read_api_key, read_token

    credential = token or read_token(token_file) or read_api_key(key_file if key_file.exists() else None)
    return NodeClient(node, credential)


def _as_person(node: str, token: str | None, key_file: Path, method: str, url: str, **kwargs: Any) -> Any:
    return _http(node, key_file, None, method, url, token=token, **kwargs)


def _password(prompt: str, password_file: Path | None, *, confirm: bool = False) -> str:
    """From --password-file, else $ARCHIVE_LEDGER_PASSWORD, else asked (never an argument: no shell history)."""
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc}", 2)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _http(
    node: str,
    key_file: Path,
    token_file: Path | None,
    method: str,
    url: str,
    *,
    token: str | None = None,
    **kwargs: Any,
) -> Any:
    from anchor.errors import LedgerError

    try:
        with _session(node, key_file, token_file, token) as client:
            return client.call_json(method, url, **kwargs)
    except LedgerError as exc:
        fail(str(exc))


PasswordFile = Annotated[
    Path | None, typer.Option(help="Read the password from this file (else $ARCHIVE_LEDGER_PASSWORD or a prompt).")
]


@app.command()
def login(
    username: str,
    node: NodeUrl = DEFAULT_NODE,
    token_file: TokenFile = None,
    password_file: PasswordFile = None,
) -> None:
    """Log in; the bearer token goes to a 0600 file that the other commands use."""
    from anchor.errors import LedgerError
    from node.client import NodeClient, default_token_file, save_token

    password = _password("password", password_file)
    try:
        with NodeClient(node, None) as client:
            answer = client.call_json("POST", "/auth/login", json={"username": username, "password": password})
    except LedgerError as exc:
        fail(str(exc))
    path = token_file or default_token_file()
    save_token(path, answer["token"])
    roles = ", ".join(answer["user"]["roles"]) or "no roles"
    typer.echo(f"logged in as {username} ({roles}) until {answer['expires_at']}; token in {path}")
    if answer.get("password_change_required"):
        typer.echo("your password was reset: change it now (`archive-ledger users passwd`); nothing else works before")


@app.command()
def logout(node: NodeUrl = DEFAULT_NODE, token_file: TokenFile = None) -> None:
    """End the login session and remove the token file."""
    from node.client import NodeClient, default_token_file, read_credential

    path = token_file or default_token_file()
    token = read_credential(None, path)
    if token:
        with NodeClient(node, token) as client, contextlib.suppress(Exception):
            client.call_json("POST", "/auth/logout")
        path.unlink(missing_ok=True)
    typer.echo("logged out")


@users_app.command("list")
def users_list(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
               token_file: TokenFile = None) -> None:  # fmt: skip
    """Accounts with their roles (users:read)."""
    for user in _http(node, api_key_file, token_file, "GET", "/users")["users"]:
        flags = " (disabled)" if user["disabled"] else ""
        typer.echo(f"{user['username']:<20} {','.join(user['roles']) or '-':<30} {user['id']}{flags}")


@users_app.command("create")
def users_create(
    username: str, display_name: str = "", password_file: PasswordFile = None, node: NodeUrl = DEFAULT_NODE,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
    must_change_password: Annotated[bool, typer.Option(
        help="The user must change the password you set at first login (default: yes).")] = True,
) -> None:  # fmt: skip
    """Create an account (system admin); roles come from the security admin (`users grant`)."""
    password = _password(f"password for {username}", password_file, confirm=True)
    body = {"username": username, "password": password, "display_name": display_name,
            "must_change_password": must_change_password}  # fmt: skip
    user = _http(node, api_key_file, token_file, "POST", "/users", json=body)
    typer.echo(f"created {user['username']} ({user['id']})")


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str | None, typer.Argument(help="Reset this user's password; omit: your own.")] = None,
    password_file: PasswordFile = None, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Set a password: your own (asks the current one) or, as system admin, another user's."""
    if username is None:
        old = typer.prompt("current password", hide_input=True)
        new = _password("new password", password_file, confirm=True)
        _http(node, api_key_file, token_file, "POST", "/me/password", json={"old_password": old, "new_password": new})
        typer.echo("password changed; log in again")
        return
    new = _password(f"new password for {username}", password_file, confirm=True)
    _http(node, api_key_file, token_file, "POST", f"/users/{username}/password", json={"password": new})
    typer.echo(f"password of {username} reset; their sessions ended; the security admin must confirm the reset "
               f"(`archive-ledger users confirm-reset {username}`) before they can log in")  # fmt: skip


@users_app.command("confirm-reset")
def users_confirm_reset(username: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                        token_file: TokenFile = None) -> None:  # fmt: skip
    """Confirm a password reset made by the system admin (security admin); the user must change it at login."""
    _http(node, api_key_file, token_file, "POST", f"/users/{username}/password/confirm")
    typer.echo(f"password reset of {username} confirmed; they must change the password at their next login")


@users_app.command("disable")
def users_disable(username: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                  token_file: TokenFile = None) -> None:  # fmt: skip
    """Disable an account (system admin): no login, its tokens stop working."""
    _http(node, api_key_file, token_file, "POST", f"/users/{username}/disable")
    typer.echo(f"disabled {username}")


@users_app.command("grant")
def users_grant(username: str, role: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                token_file: TokenFile = None, password_file: PasswordFile = None) -> None:  # fmt: skip
    """Grant a business role (security admin). `approver` is granted on chain too, signed with your key."""
    body: dict[str, Any] = {"role": role}
    if role == "approver":
        body["password"] = _password("your password (signs the on-chain role change)", password_file)
    answer = _http(node, api_key_file, token_file, "POST", f"/users/{username}/roles", json=body)
    typer.echo(
        f"{username}: {', '.join(answer['roles'])}"
        + (f" (chain tx {answer['chain_tx']})" if answer.get("chain_tx") else "")
    )


@users_app.command("revoke")
def users_revoke(username: str, role: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                 token_file: TokenFile = None, password_file: PasswordFile = None) -> None:  # fmt: skip
    """Revoke a business role (security admin). `approver` is revoked on chain too."""
    body = (
        {"password": _password("your password (signs the on-chain role change)", password_file)}
        if role == "approver"
        else None
    )
    answer = _http(node, api_key_file, token_file, "DELETE", f"/users/{username}/roles/{role}", json=body)
    typer.echo(f"{username}: {', '.join(answer['roles']) or 'no roles'}")


@users_app.command("propose-officer")
def users_propose_officer(
    username: str, role: str, revoke: Annotated[bool, typer.Option(help="Propose to take the role away.")] = False,
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Propose an officer role change (an officer); another officer confirms it."""
    body = {"user": username, "role": role, "change": "revoke" if revoke else "grant"}
    answer = _http(node, api_key_file, token_file, "POST", "/officer-proposals", json=body)
    typer.echo(f"proposal {answer['id']}: {answer['change']} {answer['role']} for {username}; needs another officer")


@users_app.command("confirm-officer")
def users_confirm_officer(proposal_id: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                          token_file: TokenFile = None) -> None:  # fmt: skip
    """Confirm another officer's proposal; the change applies at once."""
    answer = _http(node, api_key_file, token_file, "POST", f"/officer-proposals/{proposal_id}/confirm")
    typer.echo(f"confirmed: roles now {', '.join(answer['roles']) or 'none'}")


@users_app.command("api-key")
def users_api_key(
    name: str,
    action: Annotated[list[str], typer.Option("--action", help="An action the key may do (repeat).")],
    fonds: Annotated[list[str] | None, typer.Option("--fonds", help="Limit to this fonds (repeat).")] = None,
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Create an integrator API key (system admin); the key is printed once."""
    body = {"name": name, "actions": action, "fonds": fonds or None}
    answer = _http(node, api_key_file, token_file, "POST", "/api-keys", json=body)
    typer.echo(answer["key"])


@audit_app.command("verify")
def audit_verify(
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:  # fmt: skip
    """Check the audit trail (chain of hashes, log records, anchored roots). Exit 1 on tampering."""
    report = _http(node, api_key_file, token_file, "GET", "/audit/verify")
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
    from anchor.errors import LedgerError

    if format not in ("csv", "json"):
        fail("--format is csv or json", 2)
    params = {k: v for k, v in (("format", format), ("since", since), ("until", until)) if v}
    try:
        with _session(node, api_key_file, token_file) as client:
            text = client.call_text("GET", "/audit/export", params=params)
    except LedgerError as exc:
        fail(str(exc))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


# -- trust root (issue 7) -----------------------------------------------------------------------------
trust_app = typer.Typer(no_args_is_help=True, help="The trust root auditors pin: issue, export, show.")
app.add_typer(trust_app, name="trust")


def _officer_credentials(values: list[str]) -> list[tuple[str, str]]:
    creds = []
    for value in values:
        username, sep, password_file = value.partition("=")
        if not sep or not username or not password_file:
            fail(f"--officer takes USER=PASSWORD_FILE, got {value!r}", 2)
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"cannot read the password file of {username}: {exc}", 2)
        creds.append((username, password))
    return creds


@trust_app.command("issue")
def trust_issue(
    data_dir: DataDir = DEFAULT_DATA,
    officer: Annotated[list[str], typer.Option("--officer", help="USER=PASSWORD_FILE of an officer (at least two).")] = [],  # noqa: B006, E501
    rotate_verifier_key: Annotated[bool, typer.Option("--rotate-verifier-key",
                                                      help="New verifier key; the old one stays listed, valid until now.")] = False,  # noqa: E501
    archive_name: Annotated[str | None, typer.Option("--archive-name", help="The archive's name (kept in config).")] = None,  # noqa: E501
) -> None:
    """Issue the next trust root version (fonds refreshed), signed by the verifier key and >= 2 officers.
    A running node serves the new version after a restart."""
    from node.settings import load_settings
    from node.trust import issue_next

    if not (data_dir / "config.toml").exists():
        fail(f"{data_dir} is not initialised: run `archive-ledger init --data-dir {data_dir}` first")
    creds = _officer_credentials(officer)
    try:
        path, trust = issue_next(load_settings(data_dir), creds, rotate_verifier_key=rotate_verifier_key,
                                 archive_name=archive_name)  # fmt: skip
    except Exception as exc:
        fail(str(exc))
    typer.echo(f"issued trust root version {trust.version} ({trust.sha256}): {path}")
    if rotate_verifier_key:
        typer.echo(f"  new verifier key: {trust.verifier_keys[-1].public_key}")
    typer.echo("  restart the node to serve it (GET /trust); auditors: `archive-ledger trust show NEW --pinned OLD`")


@trust_app.command("export")
def trust_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the trust root here.")],
    data_dir: DataDir = DEFAULT_DATA,
) -> None:
    """Write the node's current trust root (RFC 8785 bytes), read from the data dir on the node's host."""
    from node.settings import load_settings
    from node.trust import latest_trust_root_path, load_node_trust_root

    settings = load_settings(data_dir)
    path = latest_trust_root_path(settings)
    if path is None:
        fail(f"{data_dir} has no trust root yet: run `archive-ledger trust issue --data-dir {data_dir} "
             "--officer USER=PASSWORD_FILE --officer USER=PASSWORD_FILE`")  # fmt: skip
    try:
        trust = load_node_trust_root(settings)
    except Exception as exc:
        fail(f"{path} does not check: {exc}")
    out.write_bytes(path.read_bytes())
    typer.echo(f"wrote {out} (trust root version {trust.version}, sha256 {trust.sha256})")  # type: ignore[union-attr]


@trust_app.command("show")
def trust_show(
    trust_file: Annotated[Path, typer.Argument(help="Trust root JSON.")],
    pinned: Annotated[Path | None, typer.Option("--pinned", help="An earlier version you pinned: check this one "
                                                                 "as its successor.")] = None,
) -> None:
    """Print a trust root readably (and check it, alone or as an update of --pinned)."""
    from verifier.cli import main as verifier_main

    raise typer.Exit(verifier_main(["trust-show", str(trust_file), *(["--pinned", str(pinned)] if pinned else [])]))


# -- arrangement (件/卷/盒), metadata edits, preservation checks (over HTTP, as a logged-in archivist) ---
volumes_app = typer.Typer(no_args_is_help=True, help="Volumes (卷): create, list, show.")
boxes_app = typer.Typer(no_args_is_help=True, help="Boxes (盒) and their storeroom locations: create, list.")
items_app = typer.Typer(no_args_is_help=True, help="Items: move into a volume or box, edit metadata (new version).")
preservation_app = typer.Typer(no_args_is_help=True, help="Long-term preservation checks: run a pass, list alerts.")
app.add_typer(volumes_app, name="volumes")
app.add_typer(boxes_app, name="boxes")
app.add_typer(items_app, name="items")
app.add_typer(preservation_app, name="preservation")
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]


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
    v = _as_person(node, token, api_key_file, "POST", "/volumes", json={k: x for k, x in body.items() if x is not None})
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
    data = _as_person(node, token, api_key_file, "GET", "/volumes", params=params)
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
    data = _as_person(node, token, api_key_file, "GET", f"/volumes/{volume_id}/items")
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
    b = _as_person(node, token, api_key_file, "POST", "/boxes", json=body)
    emit(b) if as_json else typer.echo(f"box {b['code']} ({b['id']}) in {b['storeroom']} {b['shelf']} {b['position']}")


@boxes_app.command("list")
def boxes_list(
    fonds: Annotated[str | None, typer.Option(help="Fonds code.")] = None,
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    data = _as_person(node, token, api_key_file, "GET", "/boxes", params={"fonds": fonds} if fonds else {})
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
    data = _as_person(node, token, api_key_file, "POST", f"/items/{item_id}/move", json=body)
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
    data = _as_person(node, token, api_key_file, "PATCH", f"/items/{item_id}/metadata", json=body)
    if as_json:
        emit(data)
    elif data["changed"]:
        typer.echo(f"item {item_id}: metadata version {data['version']} (record {data['leaf_index']}, "
                   f"metadata_sha256 {data['metadata_sha256']})")  # fmt: skip
    else:
        typer.echo(f"item {item_id}: unchanged (version {data['version']})")


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
    data = _as_person(node, token, api_key_file, "POST", "/preservation/run", json=body)
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
    alerts = _as_person(node, token, api_key_file, "GET", "/preservation/alerts", params={"all": all_})["alerts"]
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


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
