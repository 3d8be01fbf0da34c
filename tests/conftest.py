"""Shared fixtures: an in-process chain (py-evm), an initialised node on it, an API client."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.people import BUSINESS_USERS, OFFICER_USERS, PEOPLE_PASSWORD, People

warnings.filterwarnings("ignore", category=DeprecationWarning, module="eth_tester")


@pytest.fixture
def chain_client():  # type: ignore[no-untyped-def]
    """A fresh in-process chain (web3 EthereumTesterProvider) behind our ChainClient."""
    from anchor.chain import ChainClient
    from anchor.profiles import load_profile

    return ChainClient(load_profile("test"))


@pytest.fixture
def node_data(tmp_path: Path, chain_client, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """An initialised data dir on the in-process chain (keys, DB, API key, deployed contract)."""
    from node.core.bootstrap import initialise

    monkeypatch.delenv("ARCHIVE_LEDGER_KEYSTORE_PASSWORD", raising=False)
    # People's chain keystores with a cheap scrypt (the officers' at init; eth-account's default takes ~1 s).
    monkeypatch.setenv("ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N", "1024")
    data = tmp_path / "data"
    initialise(data, profile_name="test", client=chain_client)
    return data


@pytest.fixture
def node_ctx(node_data: Path, chain_client) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from node.core.context import NodeContext
    from node.core.settings import load_settings

    ctx = NodeContext.build(load_settings(node_data), chain_client=chain_client)
    yield ctx
    ctx.close()


@pytest.fixture
def api(node_ctx, node_data: Path):  # type: ignore[no-untyped-def]
    """A TestClient on the node app, authenticated with the API key init wrote."""
    from fastapi.testclient import TestClient

    from node.app import create_app

    key = (node_data / "secrets" / "api-key").read_text().strip()
    with TestClient(create_app(node_ctx, scheduler=False)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


@pytest.fixture
def people(api, node_ctx, node_data: Path) -> People:  # type: ignore[no-untyped-def]
    from node.core.models import UserRole
    from node.users import service as users

    passwords: dict[str, str] = {}
    with node_ctx.sessions() as s, s.begin():
        for role in BUSINESS_USERS:
            user = users.create_user(s, role, PEOPLE_PASSWORD)
            s.add(UserRole(user_id=user.id, role=role))
            passwords[role] = PEOPLE_PASSWORD
    for role, username in OFFICER_USERS.items():
        passwords[role] = (node_data / "secrets" / "officers" / f"{username}.password").read_text().strip()
    tokens, ids = {}, {}
    for role in (*BUSINESS_USERS, *OFFICER_USERS):
        username = OFFICER_USERS.get(role, role)
        r = api.post("/auth/login", json={"username": username, "password": passwords[role]})
        assert r.status_code == 200, r.text
        tokens[role], ids[role] = r.json()["token"], r.json()["user"]["id"]
    init_key = (node_data / "secrets" / "api-key").read_text().strip()
    return People(tokens, ids, passwords, init_key)
