"""Schemathesis over every operation of the node's OpenAPI (issue 8, "Schemathesis in the suite"):
a bounded run with the init API key and with a borrower's login token, checking that nothing answers
5xx, that answers conform to the declared schemas and that every status code is documented.

In-process (ASGI, on an in-process chain) so it is fast enough for `make test`; a few examples per
operation and mode (valid and invalid inputs), so the whole run stays within a couple of minutes."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

warnings.filterwarnings("ignore", category=DeprecationWarning, module="eth_tester")

pytestmark = [pytest.mark.slow]

# Per operation, per generation mode, per credential; FUZZ_EXAMPLES=200 for a long hunt.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
PASSWORD = "correct horse battery staple"


# Who the run calls as: the init key and a borrower always; FUZZ_AS=archivist,secauditor,sysadmin,secadmin
# adds more people for a longer hunt (business users are made here, officers are init's).
CALLERS = ["init_key", "borrower", *filter(None, os.environ.get("FUZZ_AS", "").split(","))]
OFFICERS = ("sysadmin", "secadmin", "secauditor")


class Node:
    """The app, its spec and the credentials the run uses; logs a person in again if a fuzzed
    POST /auth/logout ended their session."""

    def __init__(self, app: Any, client: Any, init_key: str, officers_dir: Path) -> None:
        self.app, self.client, self.init_key, self.officers_dir = app, client, init_key, officers_dir
        self.tokens = {who: self.login(who) for who in CALLERS if who != "init_key"}

    def login(self, who: str) -> str:
        password = (self.officers_dir / f"{who}.password").read_text().strip() if who in OFFICERS else PASSWORD
        answer = self.client.post("/auth/login", json={"username": who, "password": password})
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.init_key if who == 'init_key' else self.tokens[who]}"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    from fastapi.testclient import TestClient

    from anchor.chain import ChainClient
    from anchor.profiles import load_profile
    from node.app import create_app
    from node.core.bootstrap import initialise
    from node.core.context import NodeContext
    from node.core.models import UserRole
    from node.core.settings import load_settings
    from node.users import service as users

    mp = pytest.MonkeyPatch()
    mp.delenv("ARCHIVE_LEDGER_KEYSTORE_PASSWORD", raising=False)
    mp.setenv("ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N", "1024")
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    chain = ChainClient(load_profile("test"))
    initialise(data, profile_name="test", client=chain)
    ctx = NodeContext.build(load_settings(data), chain_client=chain)
    with ctx.sessions() as s, s.begin():
        for role in {"borrower", *CALLERS} - {"init_key", *OFFICERS}:
            s.add(UserRole(user_id=users.create_user(s, role, PASSWORD).id, role=role))
    app = create_app(ctx, scheduler=False)
    init_key = (data / "secrets" / "api-key").read_text().strip()
    with TestClient(app) as client:
        yield Node(app, client, init_key, load_settings(data).officers_dir)
    ctx.close()
    mp.undo()


def _spared(case: Any, node: Node) -> bool:
    """Calls that would end the run's own credentials (revoking the init key)."""
    return case.operation.method.upper() == "DELETE" and case.operation.path == "/api-keys/{key_id}" and (
        case.path_parameters or {}
    ).get("key_id") == 1


def _fuzz_operation(node: Node, who: str, operation: Any, mode: GenerationMode, failures: list[str]) -> None:
    """MAX_EXAMPLES cases of one operation in one mode; what fails is appended to `failures`."""

    def where(case: Any) -> str:
        return f"{operation.label} [{mode.value}] {case.path_parameters} {case.query} {str(case.body)[:200]}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        if _spared(case, node):
            return
        try:
            response = case.call(headers=node.headers(who))
        except Exception as exc:  # in-process, a 500 surfaces as the handler's exception
            failures.append(f"{where(case)} -> exception {type(exc).__name__}: {str(exc)[:300]}")
            return
        if operation.path == "/auth/logout" and response.status_code == 200 and who != "init_key":
            node.tokens[who] = node.login(who)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            titles = "; ".join(getattr(f, "title", None) or str(f)[:200] for f in found)
            failures.append(f"{where(case)} -> {response.status_code} {titles} => {response.text[:200]}")

    try:
        run()
    except Unsatisfiable:  # nothing invalid to send (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE, operation.label


def _fuzz(node: Node, who: str) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", node.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50, "every operation of the API is fuzzed"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(node, who, operation, mode, failures)
    return failures


@pytest.mark.parametrize("who", CALLERS)
def test_every_operation_holds_under_fuzzing(node: Node, who: str) -> None:
    failures = _fuzz(node, who)
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:80])
