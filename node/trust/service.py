"""The node's trust root: what an auditor pins once so the verifier never trusts a bundle's own claims.

A trust root (verifier/trustroot.py has the format) names the archive and its fonds' log ids, the
chain (id, genesis block hash, confirmations, public RPC endpoints), the three contracts with their
deployment blocks, the verifier's Ed25519 keys with their validity periods and the officers' chain
addresses. It is signed by the verifier key and by at least two officers' chain keys (EIP-191).

The node keeps every version it issued as `<data>/trust/trust-root-<version>.json` (RFC 8785 bytes;
public, so 0644): `init` writes version 1, `archive-ledger trust issue` the next one (linked by
`previous_sha256`). The highest version is the node's own trust root, loaded once when the node
starts: a new version takes effect at the next restart.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.errors import LedgerError
from anchor.models import Log
from node.core.errors import TrustIssueError
from node.core.settings import CONFIG_FILE, Settings, write_config
from verifier.certificate import generate_signing_key, load_signing_key, public_key_hex, save_signing_key
from verifier.records import format_time, log_id_for_fonds
from verifier.trustroot import (
    TrustRoot,
    assemble,
    canonical_document_bytes,
    load_trust_root,
    officer_signature,
    signing_message,
    trust_root_sha256,
    verifier_signature,
)

TRUST_DIR = "trust"
TRUST_TYPE = "archive-ledger/trust-root"
OFFICER_ROLES = ("system_admin", "security_admin", "security_auditor")
THRESHOLD = 2
DEFAULT_ARCHIVE_NAME = "archive-ledger archive"
_FILE_NAME = re.compile(r"trust-root-([1-9][0-9]*)\.json")
AUDIT_LOG_SUFFIX = "/audit"


def trust_dir(settings: Settings) -> Path:
    return settings.data_dir / TRUST_DIR


def old_verifier_keys_dir(settings: Settings) -> Path:
    return settings.secrets_dir / "verifier-keys"


def trust_root_path(settings: Settings, version: int) -> Path:
    return trust_dir(settings) / f"trust-root-{version}.json"


def latest_trust_root_path(settings: Settings) -> Path | None:
    """The file of the highest version, None when the data dir has none (initialised before issue 7)."""
    directory = trust_dir(settings)
    if not directory.is_dir():
        return None
    versions = [
        (int(m.group(1)), p) for p in directory.iterdir() if (m := _FILE_NAME.fullmatch(p.name)) is not None
    ]
    return max(versions)[1] if versions else None


def load_node_trust_root(settings: Settings) -> TrustRoot | None:
    """The node's own trust root (the newest version), checked as an auditor would check it."""
    path = latest_trust_root_path(settings)
    if path is None:
        return None
    return load_trust_root(json.loads(path.read_bytes()))


def node_trust_document_bytes(settings: Settings) -> bytes | None:
    """The RFC 8785 bytes of the newest version, as stored (what GET /trust and `trust export` give)."""
    path = latest_trust_root_path(settings)
    return path.read_bytes() if path is not None else None


# -- the body -----------------------------------------------------------------------------------------------
def fonds_list(session: Session, default_fonds: str) -> list[dict[str, str]]:
    """Every fonds the node keeps a log for (and the default one), each with its log and audit log ids."""
    codes = {default_fonds}
    for code in session.scalars(select(Log.fonds_code)):
        codes.add(code.removesuffix(AUDIT_LOG_SUFFIX))
    return [
        {"code": code, "log_id": log_id_for_fonds(code).hex(),
         "audit_log_id": log_id_for_fonds(code + AUDIT_LOG_SUFFIX).hex()}
        for code in sorted(codes)
    ]  # fmt: skip


def current_officers(session: Session) -> list[dict[str, str]]:
    """The holders of the three officer roles who have a chain key (the keys that may sign a trust root)."""
    from node.core.models import User, UserRole

    rows = session.execute(
        select(UserRole.role, User.chain_address)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role.in_(OFFICER_ROLES), User.disabled_at.is_(None), User.chain_address.is_not(None))
    ).all()
    officers = {(role, str(address).lower()) for role, address in rows}
    return [{"role": role, "address": address} for role, address in sorted(officers, key=lambda o: (
        OFFICER_ROLES.index(o[0]), o[1]))]  # fmt: skip


def chain_facts(w3: Any) -> tuple[int, str]:
    """(chain id, genesis block hash) as the chain itself answers them."""
    chain_id = int(w3.eth.chain_id)
    genesis = w3.eth.get_block(0)["hash"]
    return chain_id, "0x" + bytes(genesis).hex()


def contract_blocks(settings: Settings) -> dict[str, dict[str, Any]]:
    """The three contracts and their deployment blocks (per-contract blocks recorded at init, else the
    first deployment's block, a lower bound good for event scans)."""
    base = settings.deployed_block
    entries = {
        "ArchiveAnchor": (settings.contract_address, settings.anchor_deployed_block),
        "ArchiveRoles": (settings.roles_address, settings.roles_deployed_block),
        "ReadPermits": (settings.permits_address, settings.permits_deployed_block),
    }
    missing = [name for name, (address, _) in entries.items() if not address]
    if missing:
        raise TrustIssueError(f"no address configured for {', '.join(missing)}: run `archive-ledger init`")
    return {
        name: {"address": address.lower(), "deployed_block": block if block is not None else base}
        for name, (address, block) in entries.items()
    }


def rpc_endpoints(settings: Settings, profile_rpc_url: str | None) -> list[str]:
    endpoints = list(settings.public_rpc_endpoints) or ([profile_rpc_url] if profile_rpc_url else [])
    return endpoints


def build_body(
    settings: Settings,
    session: Session,
    *,
    version: int,
    previous_sha256: str | None,
    issued_at: datetime,
    chain_id: int,
    genesis_hash: str,
    confirmations: int,
    endpoints: Sequence[str],
    verifier_keys: Sequence[Mapping[str, Any]],
    officers: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    return {
        "type": TRUST_TYPE,
        "version": version,
        "previous_sha256": previous_sha256,
        "issued_at": format_time(issued_at),
        "archive": {"name": settings.archive_name or DEFAULT_ARCHIVE_NAME},
        "fonds": fonds_list(session, settings.default_fonds),
        "chain": {"chain_id": chain_id, "genesis_hash": genesis_hash.lower(), "confirmations": confirmations,
                  "rpc_endpoints": list(endpoints)},
        "contracts": contract_blocks(settings),
        "verifier_keys": [dict(k) for k in verifier_keys],
        "officers": [dict(o) for o in officers],
        "threshold": THRESHOLD,
    }  # fmt: skip


def sign_document(
    body: dict[str, Any], verifier_key: nacl.signing.SigningKey, officers: Sequence[tuple[str, LocalAccount]]
) -> dict[str, Any]:
    """The verifier key's Ed25519 signature and each officer's EIP-191 signature over the body's digest."""
    message = signing_message(trust_root_sha256(body))
    signatures = [verifier_signature(body, verifier_key)]
    for role, account in officers:
        signed = Account.sign_message(encode_defunct(primitive=message), private_key=account.key)
        signatures.append(officer_signature(role, account.address.lower(), "0x" + bytes(signed.signature).hex()))
    return assemble(body, signatures)


def store(settings: Settings, document: dict[str, Any]) -> tuple[Path, TrustRoot]:
    """Check the document as a verifier would, then write it (never over an existing version)."""
    trust = load_trust_root(document)
    directory = trust_dir(settings)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    path = trust_root_path(settings, trust.version)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(canonical_document_bytes(document))
    os.chmod(path, 0o644)
    return path, trust


def issue(
    settings: Settings,
    session: Session,
    officers: Mapping[str, LocalAccount] | Sequence[tuple[str, LocalAccount]],
    *,
    w3: Any | None,
    confirmations: int,
    profile_rpc_url: str | None,
    rotate_verifier_key: bool = False,
    now: datetime | None = None,
) -> tuple[Path, TrustRoot]:
    """Issue the next version (version 1 when the node has none) signed by the verifier key and `officers`
    ({role: unlocked account}, at least two distinct ones listed as officers)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    listed = current_officers(session)
    listed_addresses = {o["address"] for o in listed}
    pairs = list(officers.items()) if isinstance(officers, Mapping) else list(officers)
    signers: dict[str, tuple[str, LocalAccount]] = {}  # one signature per distinct listed address
    for role, acct in pairs:
        if acct.address.lower() in listed_addresses:
            signers.setdefault(acct.address.lower(), (role, acct))
    distinct = set(signers)
    if len(distinct) < THRESHOLD:
        raise TrustIssueError(
            f"a trust root needs the signatures of at least {THRESHOLD} distinct officers, got {len(distinct)}"
        )

    previous_path = latest_trust_root_path(settings)
    previous: TrustRoot | None = None
    if previous_path is not None:
        previous = load_trust_root(json.loads(previous_path.read_bytes()))
    if previous is not None:
        pinned = {o.address for o in previous.officers}
        if len(distinct & pinned) < previous.threshold:
            raise TrustIssueError(
                f"an auditor who pinned version {previous.version} accepts the next one only if at least "
                f"{previous.threshold} of the officers it lists sign; {len(distinct & pinned)} of the given ones do"
            )
        chain_id, genesis = previous.chain_id, previous.genesis_hash
    else:
        if w3 is None:
            raise TrustIssueError("the chain is needed for the first trust root (chain id and genesis hash)")
        chain_id, genesis = chain_facts(w3)

    key_path = settings.verifier_key_path
    current_key = load_signing_key(key_path)
    if previous is not None:
        keys = [
            {"public_key": k.public_key, "valid_from": format_time(k.valid_from),
             "valid_until": format_time(k.valid_until) if k.valid_until else None}
            for k in previous.verifier_keys
        ]  # fmt: skip
    else:
        keys = []
    current_hex = public_key_hex(current_key)
    if not any(k["public_key"] == current_hex for k in keys):
        keys.append({"public_key": current_hex, "valid_from": format_time(_key_since(key_path, now)),
                     "valid_until": None})  # fmt: skip
    signing_key = current_key
    if rotate_verifier_key:
        since = max(_parse_time(k["valid_from"]) for k in keys if k["public_key"] == current_hex)
        if now <= since:  # a key's validity must not be empty: retire it one second after it began at the earliest
            time.sleep((since - now).total_seconds() + 1 - (time.time() % 1))
            now = since + timedelta(seconds=1)
        new_key = generate_signing_key()
        for k in keys:
            if k["public_key"] == current_hex:
                k["valid_until"] = format_time(now)
        keys.append({"public_key": public_key_hex(new_key), "valid_from": format_time(now), "valid_until": None})
        signing_key = new_key

    body = build_body(
        settings, session, version=(previous.version + 1) if previous else 1,
        previous_sha256=previous.sha256 if previous else None, issued_at=now, chain_id=chain_id,
        genesis_hash=genesis, confirmations=confirmations, endpoints=rpc_endpoints(settings, profile_rpc_url),
        verifier_keys=keys, officers=listed,
    )  # fmt: skip
    document = sign_document(body, signing_key, list(signers.values()))
    load_trust_root(document)  # never store (or rotate keys for) a document a verifier would refuse
    if rotate_verifier_key:
        _rotate_key_files(settings, current_key, signing_key)
    return store(settings, document)


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _key_since(key_path: Path, now: datetime) -> datetime:
    """When the current verifier key came into use: its file's modification time (a key from before the
    trust root existed has signed certificates since then)."""
    try:
        since = datetime.fromtimestamp(int(key_path.stat().st_mtime), UTC)
    except OSError:
        return now
    return min(since, now)


def _rotate_key_files(
    settings: Settings, old_key: nacl.signing.SigningKey, new_key: nacl.signing.SigningKey
) -> None:
    """Keep the old key as secrets/verifier-keys/<public key>.key (0600), then replace verifier.key."""
    keep_dir = old_verifier_keys_dir(settings)
    keep_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keep_dir, 0o700)
    kept = keep_dir / f"{public_key_hex(old_key)}.key"
    if not kept.exists():
        save_signing_key(old_key, kept)
    tmp = settings.verifier_key_path.with_suffix(".key.new")
    save_signing_key(new_key, tmp, overwrite=True)
    os.replace(tmp, settings.verifier_key_path)


def issue_next(
    settings: Settings,
    officer_passwords: Sequence[tuple[str, str]],
    *,
    rotate_verifier_key: bool = False,
    archive_name: str | None = None,
    client: Any | None = None,
) -> tuple[Path, TrustRoot]:
    """`archive-ledger trust issue`: unlock each named officer's chain key with their password, then issue
    the next version. Refuses fewer than two distinct officers and any wrong password."""
    from anchor.db import make_engine, make_session_factory
    from anchor.profiles import load_profile
    from node.audit import service as audit
    from node.core.models import UserRole
    from node.users import service as users

    usernames = [name for name, _ in officer_passwords]
    if len(set(usernames)) < THRESHOLD:
        raise TrustIssueError(f"give at least {THRESHOLD} distinct officers (--officer USER=PASSWORD_FILE), "
                              f"got {len(set(usernames))}")  # fmt: skip
    if archive_name:
        set_config_value(settings, "archive_name", archive_name)
        settings = settings.model_copy(update={"archive_name": archive_name})
    profile = load_profile(settings.chain_profile)
    if settings.rpc_url:
        profile = profile.replace(rpc_url=settings.rpc_url)
    engine = make_engine(settings.db_url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as s, s.begin():
            accounts: list[tuple[str, LocalAccount]] = []
            for username, password in officer_passwords:
                user = users.by_username(s, username)
                if user is None or user.disabled_at is not None:
                    raise TrustIssueError(f"no active user {username!r}")
                roles = set(s.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
                officer_roles = [r for r in OFFICER_ROLES if r in roles]
                if not officer_roles:
                    raise TrustIssueError(f"{username} holds no officer role ({', '.join(OFFICER_ROLES)})")
                if not users.verify_password(user.password_hash, password):
                    raise TrustIssueError(f"wrong password for {username}")
                try:
                    accounts.append((officer_roles[0], users.unlock_chain_key(user, password)))
                except LedgerError as exc:
                    raise TrustIssueError(f"cannot unlock the chain key of {username}: {exc}") from exc
            w3 = None
            if latest_trust_root_path(settings) is None:
                from anchor.chain import ChainClient

                w3 = (client or ChainClient(profile)).w3
            path, trust = issue(
                settings, s, accounts, w3=w3, confirmations=profile.confirmations, profile_rpc_url=profile.rpc_url,
                rotate_verifier_key=rotate_verifier_key,
            )  # fmt: skip
            audit.record_event(
                s, None, "system:trust-issue", "/trust", "ok", None,
                {"version": trust.version, "sha256": trust.sha256, "officers": sorted(usernames),
                 "rotated_verifier_key": rotate_verifier_key},
                default_fonds=settings.default_fonds,
            )  # fmt: skip
    finally:
        engine.dispose()
    return path, trust


def set_config_value(settings: Settings, key: str, value: Any) -> None:
    """Update one value of config.toml, keeping the others."""
    path = settings.data_dir / CONFIG_FILE
    values = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    values[key] = value
    write_config(settings.data_dir, values)


__all__ = [
    "TrustIssueError",
    "build_body",
    "current_officers",
    "fonds_list",
    "issue",
    "issue_next",
    "latest_trust_root_path",
    "load_node_trust_root",
    "node_trust_document_bytes",
    "sign_document",
    "store",
    "trust_root_path",
]
