"""Proofs, offline verification and the trust root: proof, verify, verify-certificate, trust."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from node.core.cli import (
    DEFAULT_DATA,
    DEFAULT_NODE,
    DataDir,
    NodeUrl,
    fail,
)
from node.core.client import node_client

trust_app = typer.Typer(no_args_is_help=True, help="The trust root auditors pin: issue, export, show.")

TrustFile = Annotated[
    Path | None,
    typer.Option("--trust", envvar="ARCHIVE_LEDGER_TRUST",
                 help="The trust root you pinned (`archive-ledger trust export` / GET /trust)."),
]  # fmt: skip


def proof(
    item_id: str,
    node: NodeUrl = DEFAULT_NODE,
    against: Annotated[str, typer.Option(help="first (never changes) or latest checkpoint.")] = "first",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the bundle here.")] = None,
) -> None:
    """Fetch the proof bundle of an item."""
    with node_client(node) as client:
        bundle = client.proof(item_id, against)  # 409 not anchored yet etc.: exit 1 (cli.EXIT_CODES)
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


def verify(
    file: Annotated[Path | None, typer.Argument(help="The file to check (omit with --sha256).")] = None,
    proof: Annotated[Path, typer.Option("--proof", help="Proof bundle JSON.")] = Path("proof.json"),
    trust: TrustFile = None,
    rpc: Annotated[
        list[str] | None,
        typer.Option(
            "--rpc",
            help="Chain JSON-RPC URL; repeat it to ask several nodes, which must all agree "
            "(default: ARCHIVE_LEDGER_RPC_URL, else the trust root's rpc_endpoints).",
        ),
    ] = None,
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
        typer.echo(
            "  (online: `archive-ledger permit show PERMIT_ID --rpc URL --contract ADDRESS` reads it from the chain)"
        )


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
    officer: Annotated[
        list[str], typer.Option("--officer", help="USER=PASSWORD_FILE of an officer (at least two).")
    ] = [],  # noqa: B006
    rotate_verifier_key: Annotated[
        bool, typer.Option("--rotate-verifier-key", help="New verifier key; the old one stays listed, valid until now.")
    ] = False,
    archive_name: Annotated[
        str | None, typer.Option("--archive-name", help="The archive's name (kept in config).")
    ] = None,
) -> None:
    """Issue the next trust root version (fonds refreshed), signed by the verifier key and >= 2 officers.
    A running node serves the new version after a restart."""
    from node.core.settings import load_settings
    from node.trust.service import issue_next

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
    from node.core.settings import load_settings
    from node.trust.service import latest_trust_root_path, load_node_trust_root

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
    pinned: Annotated[
        Path | None, typer.Option("--pinned", help="An earlier version you pinned: check this one as its successor.")
    ] = None,
) -> None:
    """Print a trust root readably (and check it, alone or as an update of --pinned)."""
    from verifier.cli import main as verifier_main

    raise typer.Exit(verifier_main(["trust-show", str(trust_file), *(["--pinned", str(pinned)] if pinned else [])]))
