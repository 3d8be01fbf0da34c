"""`archive-ledger init`: a data dir with keys, database, API key and deployed contracts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eth_account import Account

from anchor.chain import ChainClient
from anchor.deploy import deploy_contracts
from anchor.errors import LedgerError
from anchor.keystore import create_keystore, load_account
from anchor.profiles import load_profile
from node.context import add_api_key
from node.db import migrate
from node.settings import CONFIG_FILE, load_settings, write_config
from verifier.certificate import generate_signing_key, save_signing_key


class AlreadyInitialised(LedgerError):
    """init would overwrite an existing node."""


def write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def initialise(
    data_dir: Path,
    *,
    profile_name: str = "dev",
    default_fonds: str = "Z001",
    rpc_url: str = "",
    client: ChainClient | None = None,
) -> dict[str, Any]:
    """Idempotent up to the config file: a half-finished init (e.g. chain down) can be re-run."""
    data_dir = Path(data_dir).resolve()
    if (data_dir / CONFIG_FILE).exists():
        raise AlreadyInitialised(f"{data_dir} is already initialised (remove it to start afresh)")
    profile = load_profile(profile_name)
    if rpc_url:
        profile = profile.replace(rpc_url=rpc_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(data_dir, chain_profile=profile_name)
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

    migrate(settings.db_url)
    if not settings.api_key_file.exists():
        from anchor.db import make_engine, make_session_factory

        engine = make_engine(settings.db_url)
        write_secret(settings.api_key_file, add_api_key(make_session_factory(engine), "integrator (init)"))
        engine.dispose()

    client = client or ChainClient(profile)
    if profile.fund_from_dev_account and client.balance(account.address) == 0:
        client.fund_from_dev_account(account.address, profile.fund_amount_wei)
    # Officer keys: throwaway for now (the officer accounts with their own keystores replace them).
    deployment = deploy_contracts(
        client,
        account,
        system_admin=Account.create(),
        security_admin=Account.create(),
        auditor=Account.create(),
        anchorer=account.address,
    )

    config: dict[str, Any] = {
        "chain_profile": profile_name,
        "contract_address": deployment.anchor,
        "roles_address": deployment.roles,
        "permits_address": deployment.permits,
        "deployed_block": deployment.block_number,
        "default_fonds": default_fonds,
        "host": settings.host,
        "port": settings.port,
    }
    if rpc_url:
        config["rpc_url"] = rpc_url
    write_config(data_dir, config)

    from verifier.certificate import load_signing_key

    return {
        "data_dir": str(data_dir),
        "chain_id": profile.chain_id,
        "contract_address": deployment.anchor,
        "anchor_account": account.address,
        "api_key_file": str(settings.api_key_file),
        "verifier_public_key": load_signing_key(settings.verifier_key_path).verify_key.encode().hex(),
    }
