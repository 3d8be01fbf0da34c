"""Loans and read permits (over HTTP as a logged-in user; `permit show --rpc` reads the chain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from node.core.cli import (
    DEFAULT_DATA,
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    DataDir,
    NodeUrl,
    PasswordFile,
    Token,
    call_node,
    emit,
    fail,
    read_password,
)

loan_app = typer.Typer(no_args_is_help=True, help="Loans: request, decide, revoke, return, list, show.")
permit_app = typer.Typer(no_args_is_help=True, help="Read permits on chain.")


def _print_loan(loan: dict[str, Any]) -> None:
    typer.echo(f"loan {loan['id']}: {loan['status']}" + (f" ({loan['reason']})" if loan.get("reason") else ""))
    typer.echo(f"  borrower {loan['borrower_id']}; purpose: {loan['purpose']}")
    typer.echo(f"  period {loan['not_before']} .. {loan['expires_at']}")
    if loan.get("renewal_of"):
        typer.echo(f"  renews loan {loan['renewal_of']}: {loan.get('renewal_reason') or ''}")
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
    loan = call_node(
        node, api_key_file, "POST", "/loans", token=token, json={k: v for k, v in body.items() if v is not None}
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
    data = call_node(node, api_key_file, "GET", "/loans", token=token, params=params)
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
    loan = call_node(node, api_key_file, "GET", f"/loans/{loan_id}", token=token)
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
    body = {"password": read_password("password (unlocks your signing key for this request only)", password_file)}
    loan = call_node(node, api_key_file, "POST", f"/loans/{loan_id}/approve", token=token, json=body)
    emit(loan) if as_json else _print_loan(loan)


@loan_app.command("reject")
def loan_reject(
    loan_id: str,
    reason: Annotated[str, typer.Option(help="Why (the borrower sees it).")],
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    _print_loan(call_node(node, api_key_file, "POST", f"/loans/{loan_id}/reject", token=token, json={"reason": reason}))


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
        "password": read_password("password (unlocks your signing key for this request only)", password_file),
        "reason": reason,
    }
    _print_loan(call_node(node, api_key_file, "POST", f"/loans/{loan_id}/revoke", token=token, json=body))


@loan_app.command("return")
def loan_return(
    loan_id: str, node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE
) -> None:
    """End your loan early: the node refuses its content from now on."""
    _print_loan(call_node(node, api_key_file, "POST", f"/loans/{loan_id}/return", token=token))


@loan_app.command("renew")
def loan_renew(
    loan_id: str,
    reason: Annotated[str, typer.Option(help="Why you need more time.")],
    days: Annotated[float | None, typer.Option(help="Days after the loan's current end.")] = None,
    until: Annotated[str | None, typer.Option(help="The new end (ISO 8601 with time zone).")] = None,
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    """Ask for more time on your approved loan (续借): a renewal request that approvers decide."""
    if (days is None) == (until is None):
        fail("give exactly one of --days or --until", 2)
    body: dict[str, Any] = {"reason": reason, **({"days": days} if days is not None else {"expires_at": until})}
    _print_loan(call_node(node, api_key_file, "POST", f"/loans/{loan_id}/renew", token=token, json=body))


@loan_app.command("certificates")
def loan_certificates(
    loan_id: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for <item id>.cert.json files.")] = Path("."),
    node: NodeUrl = DEFAULT_NODE,
    token: Token = None,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
) -> None:
    """Download the verifier's certificate of each lent item (check them with verify-certificate)."""
    data = call_node(node, api_key_file, "GET", f"/loans/{loan_id}/certificates", token=token)
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
    slip = call_node(node, api_key_file, "GET", f"/loans/{loan_id}/slip", token=token)
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
        data = call_node(node, api_key_file, "GET", f"/permits/{pid}", token=token)
        emit(data)
        raise typer.Exit(0 if data.get("chain", {}).get("valid_now") else 1)
    from anchor.chain.contracts import read_permit_at

    if contract is None:
        from node.core.settings import load_settings

        contract = load_settings(data_dir).permits_address if (data_dir / "config.toml").exists() else None
        if not contract:
            fail("give --contract (the ReadPermits address) or a --data-dir with permits_address", 2)
    try:
        answer = read_permit_at(rpc, contract, bytes.fromhex(pid))
    except Exception as exc:  # any failure to read is "cannot read", exit 1 (as before the one reader)
        fail(f"cannot read permit {pid} at {rpc}: {exc}")
    emit(answer)
    raise typer.Exit(0 if answer["valid_now"] else 1)
