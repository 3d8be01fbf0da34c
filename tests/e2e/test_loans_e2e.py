"""Lending end to end, as people run it: a real ganache, `archive-ledger init` and `serve`, the borrower
and the approver on the CLI with their own logins, content fetched over HTTP, the certificate checked
offline (`verify-certificate`) and online (`permit show --rpc`), then revocation, expiry (no action at
all), a permit for one item not opening another, and a return."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core.settings import load_settings
from tests.helpers.e2e_support import NodeServer, clean_env, create_people, describe, init_node, run_cli
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.slow]

PASSWORD = "a long enough password 2027"
PEOPLE = {"alice": "borrower", "bob": "borrower", "carol": "approver"}


@dataclass
class Lending:
    server: NodeServer
    env: dict[str, str]
    tmp: Path
    rpc_url: str
    tokens: dict[str, str]
    items: dict[str, str]  # name -> item id
    contents: dict[str, bytes]
    permits_address: str
    password_file: Path

    def cli(self, who: str, *args: Any, timeout: float = 120) -> Any:
        return run_cli(*args, "--node", self.server.url, "--token", self.tokens[who], env=self.env, timeout=timeout)

    def fetch(self, who: str, item: str) -> httpx.Response:
        return httpx.get(f"{self.server.url}/items/{self.items[item]}/content",
                         headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=60)  # fmt: skip

    def request(self, who: str, *items: str, until: datetime | None = None) -> str:
        period = ["--until", until.isoformat()] if until else ["--days", "7"]
        r = self.cli(who, "loan", "request", *(self.items[i] for i in items), "--purpose", "thesis", *period, "--json")
        assert r.returncode == 0, describe(r)
        return json.loads(r.stdout)["id"]

    def approve(self, loan_id: str) -> dict[str, Any]:
        r = self.cli("carol", "loan", "approve", loan_id, "--password-file", self.password_file, "--json")
        assert r.returncode == 0, describe(r)
        return json.loads(r.stdout)


@pytest.fixture(scope="module")
def lending(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lending]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("loans-e2e")
    env = clean_env(tmp)
    data = tmp / "node"
    init_node(data, ganache_url, env)
    server = NodeServer(data, env, tmp / "server.log").start()
    try:
        create_people(server.url, data, env, tmp, PEOPLE, PASSWORD)
        permits_address = load_settings(data).permits_address
        api = server.client()
        contents = {name: f"record {name} of the port authority\n".encode() * 40 for name in "ABCDE"}
        items = {}
        for name, data_bytes in contents.items():
            meta = {"fonds": "Z001", "title": f"record {name}", "category": "WS", "year": 2019, "retention": "30y"}
            r = api.post("/items", files={"metadata": (None, json.dumps(meta).encode(), "application/json"),
                                          "file": (f"{name}.txt", data_bytes, "text/plain")})  # fmt: skip
            assert r.status_code == 201, r.text
            items[name] = r.json()["id"]
        assert api.post("/anchor").status_code == 200
        tokens = {}
        for who in ("alice", "bob", "carol"):
            r = httpx.post(f"{server.url}/auth/login", json={"username": who, "password": PASSWORD}, timeout=60)
            assert r.status_code == 200, r.text
            tokens[who] = r.json()["token"]
        password_file = tmp / "carol.password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        yield Lending(server, env, tmp, ganache_url, tokens, items, contents, permits_address, password_file)
    finally:
        server.stop()
        print(f"--- server log tail ({server.log_path})\n{server.log_tail()}")


def test_request_approve_fetch_verify_revoke(lending: Lending) -> None:
    lend = lending
    loan_id = lend.request("alice", "A")
    assert lend.fetch("alice", "A").status_code == 403
    listed = lend.cli("carol", "loan", "list", "--status", "requested")
    assert listed.returncode == 0 and loan_id in listed.stdout, describe(listed)
    approved = lend.approve(loan_id)
    permit_id = approved["items"][0]["permit_id"]

    r = lend.fetch("alice", "A")
    assert r.status_code == 200 and r.content == lend.contents["A"]
    assert r.headers["X-Permit-Id"] == permit_id
    # a permit for A does not open B
    assert lend.fetch("alice", "B").status_code == 403

    # the borrower downloads the certificate; an auditor checks it offline ...
    out = lend.tmp / "certs"
    got = lend.cli("alice", "loan", "certificates", loan_id, "--out", out)
    assert got.returncode == 0, describe(got)
    cert = out / f"{lend.items['A']}.cert.json"
    trust_file = lend.tmp / "trust.json"  # pinned once from the node (GET /trust)
    trust_file.write_bytes(httpx.get(f"{lend.server.url}/trust").content)
    offline = run_cli("verify-certificate", cert, "--trust", trust_file, env=lend.env)
    assert offline.returncode == 0, describe(offline)
    assert f"permit {permit_id}" in offline.stdout and approved["approver_address"] in offline.stdout
    # ... and online, against the chain alone
    online = run_cli("permit", "show", permit_id, "--rpc", lend.rpc_url, "--contract", lend.permits_address,
                     env=lend.env)  # fmt: skip
    assert online.returncode == 0, describe(online)
    shown = json.loads(online.stdout)
    assert shown["valid_now"] is True and shown["approver"].lower() == approved["approver_address"].lower()

    # a renewal (续借) from the CLI: a new request linked to the loan; a second one is refused
    renewal = lend.cli("alice", "loan", "renew", loan_id, "--days", "3", "--reason", "thesis not finished")
    assert renewal.returncode == 0 and f"renews loan {loan_id}" in renewal.stdout, describe(renewal)
    assert "REQUESTED" in renewal.stdout
    again = lend.cli("alice", "loan", "renew", loan_id, "--days", "3", "--reason", "again")
    assert again.returncode != 0 and "renewal" in (again.stdout + again.stderr), describe(again)

    revoked = lend.cli("carol", "loan", "revoke", loan_id, "--reason", "end of project",
                       "--password-file", lend.password_file)  # fmt: skip
    assert revoked.returncode == 0 and "REVOKED" in revoked.stdout, describe(revoked)
    r = lend.fetch("alice", "A")
    assert r.status_code == 403 and r.json()["error"] == "loan_revoked"
    after = run_cli("permit", "show", permit_id, "--rpc", lend.rpc_url, "--contract", lend.permits_address,
                    env=lend.env)  # fmt: skip
    assert after.returncode == 1 and json.loads(after.stdout)["revoked"] is True


def test_expiry_ends_access_without_any_action(lending: Lending) -> None:
    lend = lending
    until = datetime.now(UTC) + timedelta(seconds=12)
    loan_id = lend.request("alice", "C", until=until)
    approved = lend.approve(loan_id)
    assert lend.fetch("alice", "C").status_code == 200
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1)
    r = lend.fetch("alice", "C")
    assert r.status_code == 403 and r.json()["error"] == "loan_expired"
    shown = lend.cli("alice", "loan", "show", loan_id)
    assert "EXPIRED" in shown.stdout, describe(shown)
    # the chain agrees once a block past the expiry exists
    httpx.post(lend.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []})
    online = run_cli("permit", "show", approved["items"][0]["permit_id"], "--rpc", lend.rpc_url,
                     "--contract", lend.permits_address, env=lend.env)  # fmt: skip
    assert online.returncode == 1 and json.loads(online.stdout)["valid_now"] is False


def test_returned_loan_ends_access_and_others_get_nothing(lending: Lending) -> None:
    lend = lending
    loan_id = lend.request("alice", "D")
    lend.approve(loan_id)
    assert lend.fetch("alice", "D").status_code == 200
    assert lend.fetch("bob", "D").status_code == 403
    returned = lend.cli("alice", "loan", "return", loan_id)
    assert returned.returncode == 0 and "RETURNED" in returned.stdout, describe(returned)
    r = lend.fetch("alice", "D")
    assert r.status_code == 403 and r.json()["error"] == "loan_returned"


def test_rejection_with_a_reason(lending: Lending) -> None:
    lend = lending
    loan_id = lend.request("bob", "E")
    r = lend.cli("carol", "loan", "reject", loan_id, "--reason", "personnel files need a warrant")
    assert r.returncode == 0 and "REJECTED" in r.stdout, describe(r)
    shown = lend.cli("bob", "loan", "show", loan_id)
    assert "personnel files need a warrant" in shown.stdout
    assert lend.fetch("bob", "E").status_code == 403
