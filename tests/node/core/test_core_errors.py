"""One error root per package, one table for every HTTP status, one body shape, declared in OpenAPI
(issue 9 point 3; node/core/errors.py, anchor/errors.py, docs/design.md "Errors")."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import anchor
import node
import verifier
from anchor import errors as anchor_errors
from anchor.errors import LedgerError
from node.core import errors
from node.core.errors import HTTP_ERRORS, NodeError
from node.core.models import AuditEvent, Item, Package
from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata, zip_of
from verifier.errors import VerifierError


def defined_errors(package: Any) -> dict[type[BaseException], str]:
    """Every exception class defined in a module of `package` -> the module that defines it (warnings are
    not errors: node/core/schemas.py's UndeclaredField is a warning category)."""
    found: dict[type[BaseException], str] = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value) and issubclass(value, BaseException) and not issubclass(value, Warning)
                and value.__module__ == module.__name__
            ):  # fmt: skip
                found[value] = module.__name__
    return found


# -- one root per package, one module that defines them, one row each ----------------------------------------
def test_every_error_of_node_and_anchor_derives_from_its_root_and_has_its_own_row() -> None:
    for package, root, home in ((node, NodeError, "node.core.errors"), (anchor, LedgerError, "anchor.errors")):
        found = defined_errors(package)
        assert root in found and len(found) >= 15, found  # the walk sees the modules (not an empty pass)
        for kind, module in found.items():
            assert issubclass(kind, root), f"{module}.{kind.__name__} does not derive from {root.__name__}"
            assert kind in HTTP_ERRORS, f"{module}.{kind.__name__} has no row in node/core/errors.py HTTP_ERRORS"
        assert set(found.values()) == {home}, f"error classes outside {home}: {found}"
    assert issubclass(NodeError, LedgerError)  # so the CLI maps both roots (cli.EXIT_CODES)


def test_the_slices_raise_the_classes_of_the_one_module() -> None:
    """The names the slices and tests import stay importable from where they are raised."""
    from node.core.client import NodeRequestError
    from node.core.limits import BodyRefused
    from node.core.roles import RoleConflict
    from node.filing.checks.codes import CodeError
    from node.filing.checks.package import PackageError
    from node.filing.checks.ziplimits import ZipBomb
    from node.filing.service import FilingError
    from node.lending.service import ChainRelayFailed
    from node.users.login_guard import LoginBusy, TooManyRequests

    assert (FilingError, PackageError, ZipBomb, CodeError, BodyRefused) == (
        errors.FilingError, errors.PackageError, errors.ZipBomb, errors.CodeError, errors.BodyRefused
    )  # fmt: skip
    assert {NodeRequestError, RoleConflict, ChainRelayFailed, LoginBusy, TooManyRequests} <= set(HTTP_ERRORS)
    # the parsers' errors stay ValueErrors (callers catch them as such), and are NodeErrors too
    for kind in (errors.BodyRefused, errors.ZipBomb, errors.ZipCorrupt, errors.CodeError):
        assert issubclass(kind, ValueError) and issubclass(kind, NodeError)


def test_the_verifier_keeps_its_own_root() -> None:
    found = defined_errors(verifier)
    assert VerifierError in found and len(found) >= 8
    for kind, module in found.items():
        if kind.__name__.startswith("_") and module != "verifier.errors":
            continue  # a module's private signal, caught where it is raised (verifier.cli._Usage: exit 2)
        assert issubclass(kind, VerifierError), f"{module}.{kind.__name__}"
        assert not issubclass(kind, LedgerError)


def test_the_table_keeps_the_statuses_and_reasons_clients_use() -> None:
    from node.core.openapi import STATUS_MEANINGS

    for kind, (status, reason) in HTTP_ERRORS.items():
        assert 400 <= status <= 599 and re.fullmatch(r"[a-z]+(_[a-z]+)*", reason), (kind, status, reason)
        assert status in STATUS_MEANINGS, (kind, status)  # the OpenAPI says what the status means
    pinned = {
        errors.InvalidInput: (422, "invalid_input"), errors.UploadTooLarge: (413, "upload_too_large"),
        errors.NotFound: (404, "not_found"), errors.Conflict: (409, "conflict"),
        errors.Unauthorized: (401, "unauthorized"), errors.Forbidden: (403, "forbidden"),
        errors.TooManyRequests: (429, "login_locked"), errors.LoginBusy: (503, "login_busy"),
        errors.BodyTooLarge: (413, "body_too_large"), errors.JsonTooDeep: (400, "json_too_deep"),
        errors.NumberOutOfRange: (422, "number_out_of_range"), errors.PackageError: (422, "package_unreadable"),
        errors.PackageRejected: (422, "package_rejected"), errors.ChainRelayFailed: (502, "chain_relay_failed"),
        errors.PreservationBusy: (409, "preservation_busy"), errors.RoleRuleError: (403, "role_rule"),
        errors.RoleConflict: (409, "role_conflict"), errors.FilingError: (409, "package_changed"),
        anchor_errors.NotAnchoredYet: (409, "not_anchored"), anchor_errors.AnchorBusy: (409, "anchor_busy"),
        anchor_errors.LogNotFound: (404, "log_not_found"), anchor_errors.ChainUnavailable: (503, "chain_unavailable"),
        anchor_errors.LogDiverged: (500, "log_diverged"), LedgerError: (500, "ledger_error"),
        Exception: (500, "internal_error"),
    }  # fmt: skip
    assert {kind: HTTP_ERRORS[kind] for kind in pinned} == pinned


def test_a_class_without_a_row_answers_with_its_nearest_ancestors() -> None:
    class Unlisted(errors.PreservationBusy):
        pass

    assert errors.row_of(Unlisted) == (409, "preservation_busy")
    assert errors.row_of(KeyError) == (500, "internal_error")
    assert Unlisted("x").reason == "preservation_busy" and Unlisted("x", reason="other").reason == "other"
    assert Unlisted("x").status == 409


def test_the_cli_maps_both_roots_to_an_exit_code() -> None:
    import cli

    for root in (NodeError, LedgerError):
        assert any(issubclass(root, kind) for kind, _ in cli.EXIT_CODES), root
    for kind in HTTP_ERRORS:
        if issubclass(kind, LedgerError):
            assert next(code for known, code in cli.EXIT_CODES if issubclass(kind, known)) == 1, kind


# -- every class through the one handler ----------------------------------------------------------------------
def an_instance(kind: type[BaseException], message: str) -> BaseException:
    if kind is Exception:
        return RuntimeError(message)  # a bug: no class of ours
    if issubclass(kind, errors.TooManyRequests):
        return kind(message, retry_after_s=2.5)
    if kind is errors.PackageRejected:
        return kind(message, extra={"report": {"blocking": []}})
    return kind(message)


@pytest.fixture
def raising(node_ctx: Any) -> Any:
    """The node app with one more route that raises the error class it is named by."""
    from node.app import create_app

    app = create_app(node_ctx, scheduler=False)
    by_name = {f"{k.__module__}.{k.__qualname__}": k for k in HTTP_ERRORS}

    def boom(name: str) -> None:
        raise an_instance(by_name[name], f"boom in {node_ctx.settings.data_dir}/secret-path")

    app.add_api_route("/test-raise/{name}", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, by_name


def test_every_error_class_is_answered_with_its_row_and_the_one_body_shape(raising: Any) -> None:
    client, by_name = raising
    for name, kind in by_name.items():
        status, reason = HTTP_ERRORS[kind]
        r = client.get(f"/test-raise/{name}")
        assert r.status_code == status, (name, r.status_code, r.text)
        body = r.json()
        assert body["error"] == reason and isinstance(body["detail"], str), (name, body)
        assert "secret-path" not in body["detail"] or "<data>/secret-path" in body["detail"], body  # no abs path
        assert set(body) == ({"error", "detail", "report"} if kind is errors.PackageRejected else {"error", "detail"})
        if kind is Exception:  # a bug's message is for the server log, not the client
            assert "boom" not in body["detail"]
        if issubclass(kind, errors.TooManyRequests):
            assert r.headers["retry-after"] == "3"


def test_a_raise_site_gives_a_more_specific_reason_never_another_status(node_ctx: Any) -> None:
    from node.app import create_app

    app = create_app(node_ctx, scheduler=False)

    def missing() -> None:
        raise errors.NotFound("no item x", reason="item_not_found")

    app.add_api_route("/test-missing", missing, methods=["GET"])
    with TestClient(app) as client:
        r = client.get("/test-missing")
    assert (r.status_code, r.json()) == (404, {"error": "item_not_found", "detail": "no item x"})


def test_the_framework_refusals_have_the_same_shape(api: Any) -> None:
    for method, path, status, reason in (
        ("GET", "/no/such/route", 404, "not_found"), ("DELETE", "/health", 405, "method_not_allowed"),
        ("GET", "/items?limit=nope", 422, "invalid_input"),
    ):  # fmt: skip
        r = api.request(method, path)
        assert (r.status_code, r.json()["error"]) == (status, reason), r.text
        assert set(r.json()) == {"error", "detail"}


# -- declared in OpenAPI ---------------------------------------------------------------------------------------
def test_every_route_declares_every_error_status_with_the_error_body(api: Any) -> None:
    from node.core.deps import all_routes, route_authenticated
    from node.core.openapi import ERROR_STATUSES, PUBLIC_401, build_openapi

    spec = build_openapi(api.app)
    routes = [(m.lower(), r.path, route_authenticated(r)) for r in all_routes(api.app) if r.include_in_schema
              for m in r.methods]  # (the web UI's pages are not in the API's document)
    assert len(routes) >= 60
    for method, path, authenticated in routes:
        responses = spec["paths"][path][method]["responses"]
        expected = {s for s in ERROR_STATUSES if authenticated or s not in (401, 403)}
        if (method, path) in PUBLIC_401:
            expected.add(401)
        declared = {int(s) for s in responses if s[0] in "45"}
        assert declared == expected, (method, path, declared ^ expected)
        for status in declared:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert {"error", "detail"} <= set(spec["components"]["schemas"]["ErrorBody"]["required"])


# -- FilingError: a file that changes while it is filed --------------------------------------------------------
def test_a_file_that_changes_during_filing_is_a_409_and_files_nothing(api: Any, node_ctx: Any, tmp_path: Path) -> None:
    items = [(f"doc-{n:04d}.pdf", pdf_bytes(1, text=f"doc {n}"), ws_metadata(n, archival_code=None, item_number=None))
             for n in (1, 2)]  # fmt: skip
    package = zip_of(write_package(tmp_path / "pkg", items))
    changed: list[Path] = []

    def change_a_checked_file(stage: str) -> None:
        if stage == "blobs":  # checked, not yet copied into the store
            for path in node_ctx.settings.tmp_dir.rglob("doc-0002.pdf"):
                path.write_bytes(b"%PDF-1.4 other bytes than the checked ones")
                changed.append(path)

    def stored() -> tuple[int, int, list[str]]:
        with node_ctx.reader() as s:
            items, packages = (s.scalar(select(func.count()).select_from(t)) for t in (Item, Package))
        return items, packages, sorted(p.name for p in node_ctx.blobs.root.glob("??/??/*"))

    before = stored()
    api.app.state.filing_hook = change_a_checked_file
    try:
        r = api.post("/packages", content=package, headers={"Content-Type": "application/zip"})
    finally:
        api.app.state.filing_hook = None
    assert changed, "the hook found the expanded package"
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "package_changed" and set(r.json()) == {"error", "detail"}
    assert "doc-0002.pdf changed after it was checked" in r.json()["detail"]
    assert str(node_ctx.settings.data_dir) not in r.text
    assert stored() == before  # nothing filed: no item, no package row, no blob
    with node_ctx.reader() as s:  # the refusal is an audit event with its reason
        event = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert (event.action, event.outcome) == ("items:ingest", "failed")
        assert json.loads(event.details_json)["reason"] == "package_changed"
    # sent again, unchanged: filed
    again = api.post("/packages", content=package, headers={"Content-Type": "application/zip"})
    assert again.status_code == 201 and again.json()["status"] == "FILED", again.text
