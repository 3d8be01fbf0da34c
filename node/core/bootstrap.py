"""`archive-ledger init`: a data dir with keys, database, officer accounts, API key and deployed contracts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import ChainClient
from anchor.chain.dev import fund_from_dev_account
from anchor.deploy import Deployment, deploy_contracts
from anchor.keystore import create_keystore, load_account
from anchor.profiles import ChainProfile, load_profile
from node.core.db import migrate
from node.core.errors import AlreadyInitialised, UnsafeSecretFile
from node.core.roles import INIT_API_KEY_ACTIONS, Role
from node.core.settings import CONFIG_FILE, Settings, load_settings, tighten_data_dir, write_config
from verifier.certificate import generate_signing_key, save_signing_key

# The three officers (三员) `init` creates: username -> role. Their random passwords go to
# secrets/officers/<username>.password (0600) for hand-over; each changes it at first login.
OFFICER_ACCOUNTS: dict[str, Role] = {
    "sysadmin": Role.SYSTEM_ADMIN,
    "secadmin": Role.SECURITY_ADMIN,
    "secauditor": Role.SECURITY_AUDITOR,
}


def write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def read_secret(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise UnsafeSecretFile(f"{path} is readable by group/others: chmod 600 it")
    return path.read_text(encoding="utf-8").strip()


def create_officers(
    sessions: sessionmaker[Session], officers_dir: Path, *, scrypt_n: int | None = None, default_fonds: str = "Z001"
) -> dict[str, LocalAccount]:
    """The three officer accounts with random passwords and chain keys; returns {role: account} for
    the deployment. Re-runnable: an existing account is unlocked with its password file."""
    from node.audit import service as audit
    from node.core.models import UserRole
    from node.users import service as users

    officers_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(officers_dir, 0o700)
    accounts: dict[str, LocalAccount] = {}
    created: list[dict[str, str]] = []
    with sessions() as s, s.begin():
        for username, role in OFFICER_ACCOUNTS.items():
            password_file = officers_dir / f"{username}.password"
            if not password_file.exists():
                write_secret(password_file, secrets.token_urlsafe(24))
            password = read_secret(password_file)
            user = users.by_username(s, username)
            if user is None:
                user = users.create_user(s, username, password, display_name=role.value.replace("_", " "))
                s.add(UserRole(user_id=user.id, role=role.value, granted_by=None))
                account = users.new_chain_key(user, password, scrypt_n=scrypt_n)
                created.append({"username": username, "role": role.value, "chain_address": account.address})
            else:
                account = users.unlock_chain_key(user, password)
            accounts[role.value] = account
        if created:
            audit.record_event(s, None, "system:init", "/users", "ok", None, {"officers": created},
                               default_fonds=default_fonds)  # fmt: skip
    return accounts


def _deploy(client: ChainClient, account: LocalAccount, officers: dict[str, LocalAccount]) -> Deployment:
    """The node key pays and anchors; the three officers' own keys hold the officer roles on chain."""
    return deploy_contracts(
        client, account,
        system_admin=officers[Role.SYSTEM_ADMIN.value], security_admin=officers[Role.SECURITY_ADMIN.value],
        auditor=officers[Role.SECURITY_AUDITOR.value], anchorer=account.address,
    )  # fmt: skip


def _issue_first_trust_root(
    settings: Settings, client: ChainClient, profile: ChainProfile, officers: dict[str, LocalAccount]
) -> Path:
    """Trust root version 1, signed by the verifier key and all three officers (unlocked right now)."""
    import shutil

    from anchor.db import make_engine, make_session_factory
    from node.trust import service as trust

    directory = trust.trust_dir(settings)
    if directory.exists():  # a half-finished init left it: nothing has used it (no config yet)
        shutil.rmtree(directory)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as s:
            path, _ = trust.issue(
                settings, s, officers, w3=client.w3, confirmations=profile.confirmations,
                profile_rpc_url=profile.rpc_url,
            )  # fmt: skip
    finally:
        engine.dispose()
    return path


def _restrict_sqlite_file(db_url: str) -> None:
    """The database holds password hashes, login token hashes and people's encrypted chain keystores:
    owner only (0600). SQLite creates its -wal/-shm files with the database file's mode."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        if path.exists():
            os.chmod(path, 0o600)


def initialise(
    data_dir: Path,
    *,
    profile_name: str = "dev",
    default_fonds: str = "Z001",
    rpc_url: str = "",
    archive_name: str = "",
    client: ChainClient | None = None,
) -> dict[str, Any]:
    """Idempotent up to the config file: a half-finished init (e.g. chain down) can be re-run."""
    from anchor.db import make_engine, make_session_factory
    from node.users import service as users

    data_dir = Path(data_dir).resolve()
    if (data_dir / CONFIG_FILE).exists():
        raise AlreadyInitialised(f"{data_dir} is already initialised (remove it to start afresh)")
    profile = load_profile(profile_name)
    if rpc_url:
        profile = profile.replace(rpc_url=rpc_url)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten_data_dir(data_dir)
    settings = load_settings(data_dir, chain_profile=profile_name, default_fonds=default_fonds)
    settings.secrets_dir.mkdir(mode=0o700, exist_ok=True)

    if not settings.keystore_path.exists():
        create_keystore(
            settings.keystore_path,
            settings.keystore_password_file,
            password_env=settings.keystore_password_env,
        )
    account = load_account(
        settings.keystore_path, settings.keystore_password_file, password_env=settings.keystore_password_env
    )
    if not settings.verifier_key_path.exists():
        save_signing_key(generate_signing_key(), settings.verifier_key_path)
    if not settings.pseudonym_key_path.exists():
        users.create_pseudonym_key(settings.pseudonym_key_path)

    migrate(settings.db_url)
    _restrict_sqlite_file(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        sessions = make_session_factory(engine)
        officers = create_officers(
            sessions, settings.officers_dir, scrypt_n=settings.chain_key_scrypt_n, default_fonds=default_fonds
        )
        if not settings.api_key_file.exists():
            with sessions() as s, s.begin():
                _row, key = users.create_api_key(
                    s, "integrator (init)", INIT_API_KEY_ACTIONS, None, allowed=INIT_API_KEY_ACTIONS
                )
                write_secret(settings.api_key_file, key)
    finally:
        engine.dispose()

    client = client or ChainClient(profile)
    if profile.fund_from_dev_account:  # dev chains: the node key and the officers get gas money
        for address in (account.address, *(officer.address for officer in officers.values())):
            if client.balance(address) == 0:
                fund_from_dev_account(client, address, profile.fund_amount_wei)
    deployment = _deploy(client, account, officers)

    config: dict[str, Any] = {
        "chain_profile": profile_name,
        "contract_address": deployment.anchor,
        "roles_address": deployment.roles,
        "permits_address": deployment.permits,
        "deployed_block": deployment.block_number,
        "roles_deployed_block": deployment.block_number,
        "default_fonds": default_fonds,
        "host": settings.host,
        "port": settings.port,
    }
    if deployment.anchor_block is not None:
        config["anchor_deployed_block"] = deployment.anchor_block
    if deployment.permits_block is not None:
        config["permits_deployed_block"] = deployment.permits_block
    if archive_name:
        config["archive_name"] = archive_name
    if rpc_url:
        config["rpc_url"] = rpc_url
    trust_path = _issue_first_trust_root(settings.model_copy(update=config), client, profile, officers)
    write_config(data_dir, config)

    from verifier.certificate import load_signing_key

    return {
        "data_dir": str(data_dir),
        "chain_id": profile.chain_id,
        "contract_address": deployment.anchor,
        "anchor_account": account.address,
        "api_key_file": str(settings.api_key_file),
        "verifier_public_key": load_signing_key(settings.verifier_key_path).verify_key.encode().hex(),
        "trust_root": str(trust_path),
        "officers": {
            username: {
                "role": role.value,
                "chain_address": officers[role.value].address,
                "password_file": str(settings.officers_dir / f"{username}.password"),
            }
            for username, role in OFFICER_ACCOUNTS.items()
        },
    }
