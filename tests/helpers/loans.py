"""People of a lending archive over the HTTP API: users made by the officers, approvers on chain, and
one loan request. ``people`` is a fixture: import it into the test module that uses it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

PASSWORD = "correct horse battery staple 42"


@dataclass
class People:
    api: Any
    ctx: Any
    tokens: dict[str, str]
    addresses: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        return self.api.request(method, url, headers=self.as_(who), **kw)

    def ingest(self, data: bytes, **extra: Any) -> str:
        meta = {"fonds": "Z001", "title": f"doc {hashlib.sha256(data).hexdigest()[:6]}", "category": "WS",
                "year": 2021, "retention": "30y", "extra": extra}  # fmt: skip
        files = {"metadata": (None, json.dumps(meta).encode(), "application/json"),
                 "file": ("d.pdf", data, "application/octet-stream")}  # fmt: skip
        r = self.api.post("/items", files=files)
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.fixture
def people(api, node_ctx) -> People:  # type: ignore[no-untyped-def]
    """Accounts as an archive makes them: the system admin creates them, the security admin grants
    roles; the approver role lands on chain through the node, signed with the security admin's key."""
    from node.core.roles import Role

    officers = {}
    for username in ("sysadmin", "secadmin"):
        password = (node_ctx.settings.officers_dir / f"{username}.password").read_text().strip()
        r = api.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        officers[username] = ({"Authorization": f"Bearer {r.json()['token']}"}, password)
    roles = {"alice": ["borrower"], "bob": ["borrower"], "carol": ["approver"], "dave": ["borrower", "approver"]}
    addresses: dict[str, str] = {}
    for name, rs in roles.items():
        r = api.post("/users", json={"username": name, "password": PASSWORD, "must_change_password": False},
                     headers=officers["sysadmin"][0])  # fmt: skip
        assert r.status_code == 201, r.text
        for role in rs:
            body = {"role": role, "password": officers["secadmin"][1]}
            r = api.post(f"/users/{name}/roles", json=body, headers=officers["secadmin"][0])
            assert r.status_code == 200, r.text
            assert (r.json()["chain_tx"] is not None) == (role == Role.APPROVER)
        if "approver" in rs:
            addresses[name] = api.get(f"/users/{name}", headers=officers["secadmin"][0]).json()["chain_address"]
    tokens = {}
    for name in roles:
        r = api.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[name] = r.json()["token"]
    return People(api, node_ctx, tokens, addresses)


def request_loan(p: People, who: str, items: list[str], days: float = 7) -> dict[str, Any]:
    r = p.call(who, "POST", "/loans", json={"items": items, "purpose": "history of the port", "days": days})
    assert r.status_code == 201, r.text
    return r.json()
