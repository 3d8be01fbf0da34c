"""Typed models at the boundary (issue 9, point 5): every route declares its answer, the committed
docs/openapi.json is the document a node serves, and the proof bundle has one definition (the verifier's)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic_core import PydanticSerializationError

from node.core.openapi_doc import DOC_PATH, document, render
from node.core.schemas import Answer, UndeclaredField
from verifier.bundle import ANCHOR_FIELDS, BUNDLE_FIELDS, BUNDLE_JSON_SCHEMA

OPEN_OBJECT = {"type": "object", "additionalProperties": True}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_committed_openapi_is_what_the_node_serves(api: Any) -> None:
    served = api.get("/openapi.json").json()
    assert DOC_PATH.exists(), "docs/openapi.json is missing: run `make openapi`"
    assert json.loads(DOC_PATH.read_text(encoding="utf-8")) == served, "docs/openapi.json is stale: run `make openapi`"
    assert DOC_PATH.read_text(encoding="utf-8") == render(served), "not as `make openapi` writes it: run it"


def test_the_document_is_stable_text() -> None:
    first = render(document())
    assert first == render(document())
    assert first.endswith("}\n") and json.loads(first)


def test_every_operation_declares_a_2xx_answer_with_a_schema() -> None:
    spec = document()
    weak, operations = [], 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            operations += 1
            ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            schemas = [m.get("schema") or {} for r in ok.values() for m in (r.get("content") or {}).values()]
            if not schemas:
                weak.append((method, path, "no 2xx content"))
            for schema in schemas:
                target = _resolve(spec, schema)
                if not target or target == OPEN_OBJECT or (
                    target.get("type") == "object" and not target.get("properties")
                ):
                    weak.append((method, path, schema))
    assert operations >= 65
    assert not weak, weak


def test_every_json_body_is_a_named_model() -> None:
    """Request bodies are models too (uploads are declared multipart or raw ZIP in node/core/openapi.py)."""
    bodies = {}
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            for media, content in (op.get("requestBody") or {}).get("content", {}).items():
                bodies[(method, path, media)] = _refs(content["schema"])
    assert len(bodies) >= 23
    unnamed = [key for key, refs in bodies.items() if key[2] == "application/json" and len(refs) != 1]
    assert not unnamed, unnamed
    uploads = {(m, p) for m, p, media in bodies if media != "application/json"}
    assert uploads == {("post", "/items"), ("post", "/packages")}


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {value["$ref"].rsplit("/", 1)[-1]} if "$ref" in value else set()
        return own.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_answers_are_closed_objects_so_an_undeclared_field_is_seen() -> None:
    """Every model a 2xx answer uses names its fields (additionalProperties false), except the open
    payloads: a signed certificate (the verifier's) and an audit problem's location keys."""
    spec = document()
    components = spec["components"]["schemas"]
    seen: set[str] = set()
    todo = {r for ops in spec["paths"].values() for op in ops.values() for s, answer in op["responses"].items()
            if s.startswith("2") for r in _refs(answer)}  # fmt: skip
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= _refs(components[name]) - seen
    objects = {n for n in seen if components[n].get("type") == "object"}
    open_models = {n for n in objects if components[n].get("additionalProperties") is not False}
    assert len(seen) > 60
    assert open_models == {"Certificate", "Problem"}


def test_files_and_downloads_declare_their_media_types() -> None:
    paths = document()["paths"]
    content = paths["/items/{item_id}/content"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/octet-stream"}
    export = paths["/audit/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/json", "text/csv"}
    assert export["application/json"]["schema"]["$ref"].endswith("/EventList")
    for path in ("/packages/{package_id}", "/items/{item_id}/checks"):
        assert set(paths[path]["get"]["responses"]["200"]["content"]) == {"application/json", "text/plain"}, path
    for path in ("/items", "/packages"):  # 201 filed, 200 the same thing filed before
        answers = paths[path]["post"]["responses"]
        assert answers["200"]["content"]["application/json"] == answers["201"]["content"]["application/json"], path
    trust = paths["/trust"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert trust["$ref"].endswith("/TrustRootDocument")


def test_the_proof_bundle_has_one_definition_the_verifiers() -> None:
    spec = document()
    assert spec["components"]["schemas"]["ProofBundle"] == {**BUNDLE_JSON_SCHEMA, "title": "ProofBundle"}
    for path in ("/items/{item_id}/proof", "/items/{item_id}/versions/{version}/proof"):
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ProofBundle"}, path
    assert BUNDLE_JSON_SCHEMA["required"] == list(BUNDLE_FIELDS)
    assert set(BUNDLE_JSON_SCHEMA["properties"]) == set(BUNDLE_FIELDS)
    anchor = BUNDLE_JSON_SCHEMA["properties"]["anchor"]["anyOf"][0]
    assert anchor["required"] == list(ANCHOR_FIELDS) and set(anchor["properties"]) == set(ANCHOR_FIELDS)


def test_the_bundle_schema_takes_a_real_bundle_and_refuses_a_broken_one() -> None:
    from tests.helpers.bundles import build

    bundle, _chain = build()
    jsonschema_rs.validate(BUNDLE_JSON_SCHEMA, bundle)
    jsonschema_rs.validate(BUNDLE_JSON_SCHEMA, {**bundle, "anchor": None})
    for broken in (
        {k: v for k, v in bundle.items() if k != "root"},
        {**bundle, "v": 2},
        {**bundle, "leaf_hash": "AB" * 32},
        {**bundle, "anchor": {**bundle["anchor"], "tx_hash": "0x12"}},
        {**bundle, "extra": 1},
    ):
        with pytest.raises(jsonschema_rs.ValidationError):
            jsonschema_rs.validate(BUNDLE_JSON_SCHEMA, broken)


def _conforms(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """`body` is valid against the operation's declared JSON schema for `status` (refs resolved in the spec)."""
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema_rs.validate({**schema, "components": spec["components"]}, body)


def test_answers_the_routes_build_themselves_match_their_declared_models(api: Any, people: Any, tmp_path: Any) -> None:
    """Uploads and the text/JSON report routes return a Response themselves (no model check at run time):
    their JSON is what the document says, for 201 and for the 200 of a resent file or package."""
    from tests.helpers.api import upload
    from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata, zip_of

    spec = api.get("/openapi.json").json()
    for status in (201, 200):
        answer = upload(api, b"the same bytes")
        assert answer.status_code == status, answer.text
        _conforms(spec, "/items", "post", status, answer.json())
    root = write_package(tmp_path / "pkg", [("doc.pdf", pdf_bytes(1, text="x"), ws_metadata(1, archival_code=None,
                                                                                       item_number=None))])  # fmt: skip
    for status in (201, 200):
        answer = api.post("/packages", content=zip_of(root), headers={"Content-Type": "application/zip"})
        assert answer.status_code == status, answer.text
        _conforms(spec, "/packages", "post", status, answer.json())
    package = answer.json()
    _conforms(spec, "/packages/{package_id}", "get", 200, api.get(f"/packages/{package['id']}").json())
    checks = api.get(f"/items/{package['items'][0]['id']}/checks")
    _conforms(spec, "/items/{item_id}/checks", "get", 200, checks.json())
    export = api.get("/audit/export", headers=people.auth("security_auditor"))
    assert export.status_code == 200, export.text
    _conforms(spec, "/audit/export", "get", 200, export.json())
    _conforms(spec, "/trust", "get", 200, api.get("/trust").json())
    with pytest.raises(jsonschema_rs.ValidationError):  # and the check can fail
        _conforms(spec, "/packages/{package_id}", "get", 200, {**package, "unexpected": 1})


# -- Answer: the route's dict as given ---------------------------------------------------------------
class _Inner(Answer):
    a: int
    note: str | None = None


class _Outer(Answer):
    name: str
    size: int | float
    inner: _Inner
    inners: list[_Inner]
    maybe: str | None = None


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/as-given", response_model=_Outer)
    def as_given() -> dict[str, Any]:
        return {"name": "n", "size": 3, "inner": {"a": 1}, "inners": [{"a": 2, "note": None}]}

    @app.get("/undeclared", response_model=_Outer)
    def undeclared() -> dict[str, Any]:
        return {"name": "n", "size": 1.5, "inner": {"a": 1, "new": True}, "inners": [], "later": [1]}

    @app.get("/wrong-type", response_model=_Outer)
    def wrong_type() -> dict[str, Any]:
        return {"name": 7, "size": 1, "inner": {"a": 1}, "inners": []}

    return app


def test_an_answer_is_sent_as_the_route_built_it() -> None:
    """No null added for an optional field left out, an explicit null kept, an int stays an int."""
    with TestClient(_app()) as client:
        answer = client.get("/as-given")
    assert answer.status_code == 200
    assert answer.json() == {"name": "n", "size": 3, "inner": {"a": 1}, "inners": [{"a": 2, "note": None}]}
    assert '"size":3,' in answer.text


def test_an_undeclared_field_is_sent_but_warned_about() -> None:
    """Never dropped (a client may read it), but a warning the test suite turns into an error."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with TestClient(_app()) as client:
            answer = client.get("/undeclared")
    assert answer.json() == {"name": "n", "size": 1.5, "inner": {"a": 1, "new": True}, "inners": [], "later": [1]}
    found = sorted(str(w.message) for w in seen if issubclass(w.category, UndeclaredField))
    assert found == ["_Inner does not declare ['new']", "_Outer does not declare ['later']"]


def test_the_suite_fails_on_an_undeclared_field() -> None:
    with TestClient(_app()) as client, pytest.raises(PydanticSerializationError, match="UndeclaredField"):
        client.get("/undeclared")


def test_an_answer_of_the_wrong_type_is_refused_at_the_boundary() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert client.get("/wrong-type").status_code == 500


def test_the_schema_of_an_answer_is_closed_and_names_its_optional_fields() -> None:
    schema = _Outer.model_json_schema(mode="serialization")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "size", "inner", "inners"}
    assert schema["$defs"]["_Inner"]["additionalProperties"] is False
