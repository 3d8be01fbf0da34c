"""Hostile request parsing (issue 8, points 1, 2, 8 numbers, 12): one test per class fixed.

- depth: a body nested 100,000 deep used to segfault the process (the Ethereum stack raises the
  recursion limit to 100,000; the C JSON decoder then overflows the C stack): against a real server;
- size per content type: every non-streaming body is capped whatever its type, declared or chunked,
  with the server's RSS measured;
- numeric bounds: integers in queries, paths and bodies, metadata numbers, loan periods, /verify indexes;
- strict booleans: `0`, `1`, "yes" are not booleans.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.e2e_support import NodeServer, clean_env, init_node
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the fixture)

DEEP = 100_000


# -- a real server ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("hostile")
    env = clean_env(tmp)
    init_node(tmp / "node", ganache_url, env)
    node = NodeServer(tmp / "node", env, tmp / "server.log").start()
    yield node
    node.stop()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _alive(server: NodeServer) -> None:
    assert server.proc is not None and server.proc.poll() is None, f"server died:\n{server.log_tail()}"
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


@pytest.mark.e2e
@pytest.mark.ganache
@pytest.mark.slow
@pytest.mark.parametrize("route", ["/auth/login", "/verify"])
@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_deep_json_is_refused_and_the_server_survives(server: NodeServer, route: str, shape: str) -> None:
    body = shape * DEEP + "1" + ("]" if shape == "[" else "}") * DEEP
    r = httpx.post(server.url + route, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "json_too_deep" and r.json()["detail"]
    # without a content type FastAPI parses the body as JSON too
    r = httpx.post(server.url + route, content=body, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "json_too_deep"
    _alive(server)


@pytest.mark.e2e
@pytest.mark.ganache
@pytest.mark.slow
def test_deep_metadata_part_of_an_upload_is_refused(server: NodeServer) -> None:
    metadata = "[" * 32_000 + "]" * 32_000  # within the 64 KiB metadata cap
    files = {"file": ("a.txt", b"x"), "metadata": (None, metadata)}
    r = server.client().post("/items", files=files)
    assert r.status_code == 400 and r.json()["error"] == "json_too_deep", r.text
    _alive(server)


def _send_raw(port: int, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send a request by hand (a lying Content-Length, or chunks) and read the answer; stops sending
    when the server answers or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        try:
            for chunk in chunks:
                with contextlib.suppress(BlockingIOError):
                    answer += sock.recv(65536)
                if answer:
                    break
                sock.setblocking(True)
                sock.sendall(chunk)
                sock.setblocking(False)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.setblocking(True)
        sock.settimeout(30)
        while not _complete(answer):
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            answer += data
        return answer


def _complete(answer: bytes) -> bool:
    """The headers and, when they give a Content-Length, the whole body have arrived (the body may come
    in a later packet than the headers)."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


@pytest.mark.e2e
@pytest.mark.ganache
@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
                                   "application/json"])  # fmt: skip
def test_oversized_bodies_are_refused_whatever_their_type(server: NodeServer, ctype: str) -> None:
    """512 MiB declared, then sent: refused (413) after the headers; RSS grows < 150 MiB."""
    before = _rss_mib(server.pid)
    size = 512 * 1024 * 1024
    head = (f"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {size}\r\n\r\n").encode()
    chunk = b"a" * (1024 * 1024)
    answer = _send_raw(server.port, head, iter([chunk] * 512))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"body_too_large" in answer
    assert _rss_mib(server.pid) - before < 150
    _alive(server)


@pytest.mark.e2e
@pytest.mark.ganache
@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["text/plain", "application/json"])
def test_chunked_oversized_bodies_are_refused_as_they_stream(server: NodeServer, ctype: str) -> None:
    before = _rss_mib(server.pid)
    head = f"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    piece = b"a" * (256 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = _send_raw(server.port, head, iter([chunk] * 2048))  # 512 MiB if nobody stopped it
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert _rss_mib(server.pid) - before < 150
    _alive(server)


# -- in process ------------------------------------------------------------------------------------
def test_size_cap_applies_to_every_content_type(api: Any) -> None:
    body = b"x" * (1024 * 1024 + 1)
    for ctype in ("text/plain", "application/json", "application/octet-stream", "multipart/form-data; boundary=b"):
        for route in ("/verify", "/auth/login", "/loans"):
            r = api.post(route, content=body, headers={"Content-Type": ctype})
            assert r.status_code == 413, (ctype, route, r.text)
            assert r.json() == {"error": "body_too_large", "detail": r.json()["detail"]}
    # the streaming uploads keep their own caps: a large upload is not refused by the body cap
    r = api.post("/items", files={"file": ("big.bin", body), "metadata": (None, json.dumps(_metadata()))})
    assert r.status_code == 201, r.text


def test_json_depth_scan() -> None:
    from node.core.limits import BodyRefused, json_depth, loads_bounded

    assert json_depth(b'{"a": [1, {"b": "[[[[\\"[["}]}') == 3
    assert json_depth(b"1") == 0
    assert json_depth(b"[" * 500_000) == 500_000
    # linear on what makes string patterns backtrack: unterminated strings full of escaped quotes
    for hostile in (b"[" * 1_000_000, b'"' + b'\\"' * 500_000, b'"' + b'\\"' * 500_000 + b"\\", b'"' * 1_000_000):
        start = time.monotonic()
        json_depth(hostile)
        assert time.monotonic() - start < 3.0, hostile[:10]
    assert loads_bounded("[" * 64 + "]" * 64) is not None
    with pytest.raises(BodyRefused) as exc:
        loads_bounded("[" * 65 + "]" * 65)
    assert exc.value.status == 400 and exc.value.reason == "json_too_deep"


def _metadata(**extra: Any) -> dict[str, Any]:
    return {"fonds": "Z001", "title": "t", "category": "WS", "year": 2020, "retention": "permanent", **extra}


BIG = 2**63
# (method, path, query or None, json body or None, expected status); the caller: ROUTE_CALLERS or the init key
NUMERIC_CASES: list[tuple[str, str, dict[str, Any] | None, Any, int]] = [
    ("GET", "/items", {"offset": BIG}, None, 422),
    ("GET", "/items", {"offset": 10**9 + 1}, None, 422),
    ("GET", "/items", {"year": BIG}, None, 422),
    ("GET", "/items", {"year": "1" + "0" * 5000}, None, 422),
    ("GET", "/boxes", {"offset": BIG}, None, 422),
    ("GET", "/volumes", {"offset": BIG, "year": BIG}, None, 422),
    ("GET", "/loans", {"offset": BIG}, None, 422),
    ("GET", "/packages", {"offset": BIG}, None, 422),
    ("GET", "/audit/events", {"after_seq": BIG}, None, 422),
    ("GET", "/items/x/versions/9223372036854775808/proof", None, None, 422),
    ("DELETE", "/api-keys/9223372036854775808", None, None, 422),
    ("POST", "/preservation/run", None, {"max_items": BIG}, 422),
    ("POST", "/preservation/run", None, {"max_seconds": 1e300}, 422),
    ("POST", "/volumes", None, {"fonds": "Z001", "category": "WS", "year": BIG, "retention": "10y", "title": "t"}, 422),
    ("GET", "/items", {"offset": 10**9}, None, 200),
]


ROUTE_CALLERS = {"/audit": "security_auditor", "/api-keys": "system_admin", "/users": "system_admin",
                 "/volumes": "archivist", "/boxes": "archivist"}  # fmt: skip


def _caller(people: Any, method: str, path: str) -> dict[str, str] | None:
    for prefix, role in ROUTE_CALLERS.items():
        if path.startswith(prefix) and (method != "GET" or prefix == "/audit"):
            return people.auth(role)
    if path.endswith(("/move", "/metadata")):
        return people.auth("archivist")
    return None


def test_numeric_bounds(api: Any, people: Any) -> None:
    wrong = []
    for method, path, query, body, status in NUMERIC_CASES:
        headers = _caller(people, method, path)
        r = api.request(method, path, params=query, json=body, headers=headers)
        if r.status_code != status or (status >= 400 and not set(r.json()) >= {"error", "detail"}):
            wrong.append((method, path, query, body, r.status_code, r.text[:200]))
    assert not wrong, wrong


@pytest.mark.parametrize(
    "raw",
    ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e400}', '{"x": ' + "9" * 5000 + "}",
     '{"x": -' + "9" * 5000 + "}"],
)  # fmt: skip
def test_json_numbers_out_of_range_are_refused_on_any_route(api: Any, raw: str) -> None:
    for route in ("/verify", "/auth/login", "/loans", "/boxes"):
        r = api.post(route, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (route, r.text)
        assert r.json()["error"] == "number_out_of_range"


@pytest.mark.parametrize(
    ("literal", "status"),
    [(str(2**53), 422), (str(-(2**53)), 422), (str(2**63), 422), ("1" + "0" * 5000, 422), ("NaN", 422),
     ("Infinity", 422), ("1e400", 422), (str(2**53 - 1), 201), ("1.5", 201)],
)  # fmt: skip
def test_metadata_extra_numbers(api: Any, people: Any, literal: str, status: int) -> None:
    value = literal
    metadata = json.dumps(_metadata(title=f"extra {literal[:20]}"))[:-1] + f', "extra": {{"n": {literal}}}}}'
    r = api.post("/items", files={"file": (f"{value[:20]}.txt", value.encode()), "metadata": (None, metadata)})
    assert r.status_code == status, r.text
    if status == 201:
        item = r.json()["id"]
        # and the same bounds when editing metadata after filing
        for key, bad in [("extra.m", v) for v in (str(2**53), "NaN", "1e400", "9" * 5000)] + [
            ("year", str(2**63)), ("year", "99999"), ("year", "1e300"), ("year", "true")
        ]:
            raw = f'{{"set": {{"{key}": {bad}}}, "reason": "r"}}'
            r = api.patch(f"/items/{item}/metadata", content=raw,
                          headers={**people.auth("archivist"), "Content-Type": "application/json"})  # fmt: skip
            assert r.status_code == 422, (bad, r.text)


def test_loan_periods_are_bounded(people: Any, api: Any) -> None:
    r = api.post("/items", files={"file": ("l.txt", b"loan"), "metadata": (None, json.dumps(_metadata()))})
    item = r.json()["id"]
    borrower = people.auth("borrower")
    for body in (
        {"days": 1e9},
        {"days": 0},
        {"not_before": "9999-12-31T00:00:00Z", "days": 1},
        {"expires_at": "9999-12-31T23:59:59Z"},
        {"not_before": "0001-01-01T00:00:00Z", "days": 1},
    ):
        r = api.post("/loans", json={"items": [item], "purpose": "research", **body}, headers=borrower)
        assert r.status_code == 422, (body, r.text)
    r = api.post("/loans", content='{"items": ["' + item + '"], "purpose": "p", "days": Infinity}',
                 headers={**borrower, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422, r.text
    r = api.post("/loans", json={"items": [item], "purpose": "research", "days": 7}, headers=borrower)
    assert r.status_code == 201, r.text


def _bundle(api: Any) -> dict[str, Any]:
    r = api.post("/items", files={"file": ("v.txt", b"verify me"), "metadata": (None, json.dumps(_metadata()))})
    item = r.json()["id"]
    assert api.post("/anchor").status_code == 200
    r = api.get(f"/items/{item}/proof")
    assert r.status_code == 200, r.text
    return r.json()


def test_verify_with_huge_indexes_is_a_clear_answer(api: Any) -> None:
    bundle = _bundle(api)
    # in-process, the chain has too few blocks on top for the test profile's confirmations: indeterminate
    assert api.post("/verify", json={"bundle": bundle}).json()["result"]["outcome"] in ("authentic", "indeterminate")

    def walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], int]]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, (*path, i))
        elif isinstance(value, int) and not isinstance(value, bool):
            yield path, value

    numbers = list(walk(bundle))
    assert numbers, "the bundle has integers (leaf index, tree size, block number)"
    for path, _ in numbers:
        for huge in (2**53 + 1, 2**63, 2**64, 2**64 - 1, 10**19 * 9, -1, -(2**63)):
            changed = json.loads(json.dumps(bundle))
            target = changed
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = huge
            for certificate in (False, True):  # a certificate canonicalises the bundle (RFC 8785: <= 2**53)
                r = api.post("/verify", json={"bundle": changed, "certificate": certificate})
                assert r.status_code in (200, 422), (path, huge, certificate, r.text)
                if r.status_code == 200:
                    assert r.json()["result"]["outcome"] != "authentic", (path, huge)


def _is_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" or any(_is_integer(s) for s in schema.get("anyOf", []))


def test_every_integer_parameter_of_the_spec_is_bounded(api: Any, people: Any) -> None:
    """Spec-driven, so a route added later is covered too: every integer query or path parameter,
    sent 2**63, 10**30 or -2**63, is refused with 422 by some caller allowed to reach the route."""
    from node.core.openapi import build_openapi

    callers = [None, *(people.auth(r) for r in ("archivist", "security_auditor", "system_admin", "borrower"))]
    swept, wrong = 0, []
    for path, operations in build_openapi(api.app)["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            for param in (p for p in params if p["in"] in ("query", "path") and _is_integer(p["schema"])):
                for huge in (2**63, 10**30, -(2**63)):
                    url = path
                    for other in (p for p in params if p["in"] == "path"):
                        url = url.replace("{" + other["name"] + "}", str(huge) if other is param else "x")
                    query = {param["name"]: huge} if param["in"] == "query" else None
                    status = None
                    for headers in callers:
                        status = api.request(method, url, params=query, headers=headers).status_code
                        if status not in (401, 403):
                            break
                    swept += 1
                    if status != 422:
                        wrong.append((method, path, param["name"], huge, status))
    assert swept >= 30 and not wrong, wrong


def test_booleans_are_strict(api: Any, people: Any) -> None:
    wrong = []
    for bad in (0, 1, "yes", "true", "1", None):
        for method, path, body in (
            ("POST", "/verify", {"bundle": {}, "certificate": bad}),
            ("POST", "/preservation/run", {"from_start": bad}),
            ("POST", "/users", {"username": "zz", "password": "a long enough password", "must_change_password": bad}),
            ("POST", "/items/x/move", {"force": bad}),
        ):
            r = api.request(method, path, json=body, headers=_caller(people, method, path))
            if r.status_code != 422 or r.json()["error"] != "invalid_input":
                wrong.append((path, bad, r.status_code, r.text[:200]))
    for bad in ("0", "1", "yes", "on", "no"):
        if api.get("/preservation/alerts", params={"all": bad}).status_code != 422:
            wrong.append(("/preservation/alerts", bad))
        if api.get("/loans", params={"mine": bad}, headers=people.auth("borrower")).status_code != 422:
            wrong.append(("/loans", bad))
    assert not wrong, wrong
    assert api.get("/preservation/alerts", params={"all": "true"}).status_code == 200
    assert api.get("/loans", params={"mine": "False"}, headers=people.auth("borrower")).status_code == 200


def test_errors_of_the_framework_have_the_node_shape(api: Any) -> None:
    for method, path in (("GET", "/no/such/route"), ("DELETE", "/health")):
        r = api.request(method, path)
        assert r.status_code in (404, 405)
        assert set(r.json()) == {"error", "detail"}, r.text


def test_openapi_declares_error_bodies_statuses_and_uploads(api: Any) -> None:
    from node.core.openapi import build_openapi

    spec = build_openapi(api.app)
    assert spec == api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "ErrorBody" in schemas and "HTTPValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(spec)
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for status in ("400", "413", "422"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (method, path, status)
    assert {"401", "403"} <= set(spec["paths"]["/items"]["get"]["responses"])
    assert "401" in spec["paths"]["/auth/login"]["post"]["responses"]
    item_body = spec["paths"]["/items"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(item_body["required"]) == {"file", "metadata"}
    package_body = spec["paths"]["/packages"]["post"]["requestBody"]["content"]
    assert {"application/zip", "multipart/form-data"} <= set(package_body)


def test_a_deep_or_out_of_range_manifest_json_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    """A package's manifest.json goes through the same bounded parser as a request body."""
    import subprocess
    import sys

    from node.filing.checks.package import _read_manifest

    for text in ("[" * DEEP + "]" * DEEP, '[{"path": "a.pdf", "pages": ' + "9" * 31 + "}]", '[{"pages": NaN}]'):
        (tmp_path / "manifest.json").write_text(text, encoding="utf-8")
        rows, _header, results = _read_manifest(tmp_path / "manifest.json")
        assert not rows and [r.code for r in results] == ["AUTH-MANIFEST"], text[:40]
    # and in a process with the Ethereum stack's recursion limit, where json.loads would segfault
    script = (
        "import sys; import node.app; assert sys.getrecursionlimit() >= 100000; from pathlib import Path; "
        "from node.filing.checks.package import _read_manifest; "
        f"print(len(_read_manifest(Path({str(tmp_path / 'deep.json')!r}))[2]))"
    )
    (tmp_path / "deep.json").write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-2000:]
