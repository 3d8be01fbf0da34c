"""The verify page (issue 11, point 4) without a browser: an auditor uploads a file with its proof bundle,
or a certificate, and sees each step of the verifier against the node's trust root, the failing one marked
(class `step-failed`, `data-ok="false"`, its reason code). Bounded, CSRF-checked uploads; a clear 4xx page
for what cannot be verified; the auditors only; no audit event (like POST /verify)."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.api import upload
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, csrf_of, last_seq, login

DATA = b"%PDF-1.7 harbour dispatch notice " * 64
STEP_RE = re.compile(r'<li class="step step-(\w+)" data-step="(\w+)" data-ok="(\w+)">(.*?)</li>', re.S)


@pytest.fixture
def anchored(api: Any) -> dict[str, Any]:
    """One item, anchored on the in-process chain, with its proof bundle."""
    r = upload(api, DATA)
    assert r.status_code == 201, r.text
    assert api.post("/anchor").status_code == 200
    item = r.json()
    return {"item": item, "bundle": api.get(f"/items/{item['id']}/proof").json()}


def auditor(api: Any, username: str = "auditor", password: str = PEOPLE_PASSWORD) -> TestClient:
    client = browser(api)
    assert login(client, username, password).status_code == 303
    return client


def send(client: TestClient, *, token: str | None = "fresh", **files: Any) -> Any:
    """POST /verify-record as the browser's form does: the CSRF token first, then the files."""
    if token == "fresh":
        token = csrf_of(client.get("/verify-record"))
    data = {"csrf_token": token} if token is not None else {}
    parts = {name: (f"{name}.bin", content, "application/octet-stream") for name, content in files.items()}
    return client.post("/verify-record", data=data, files=parts)


def steps(page: Any) -> dict[str, tuple[str, str, str]]:
    """{step name: (status, data-ok, the step's html)} in page order (the result's own steps only)."""
    result = page.text.split('id="steps"', 1)[1].split("</ol>", 1)[0]
    return {name: (status, ok, body) for status, name, ok, body in STEP_RE.findall(result)}


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_a_good_file_and_bundle_pass_every_step(api: Any, people: People, anchored: dict[str, Any]) -> None:
    client = auditor(api)
    form = client.get("/verify-record")
    assert form.status_code == 200 and 'id="verify-bundle-form"' in form.text and 'id="trust-root"' in form.text
    trust = api.get("/trust").json()
    from verifier.trustroot import load_trust_root

    assert load_trust_root(trust).sha256 in form.text  # the node's own trust root, shown
    page = send(client, file=DATA, bundle=as_json(anchored["bundle"]))
    assert page.status_code == 200, page.text
    found = steps(page)
    assert list(found) == ["content_hash", "record", "inclusion", "chain"]
    assert all(status == "passed" and ok == "true" for status, ok, _ in found.values()), found
    assert 'data-outcome="authentic"' in page.text and 'data-ok="false"' not in page.text
    assert anchored["item"]["content_sha256"] in page.text  # the file's digest, computed while it streamed
    assert "真实：每一步都通过" in page.text  # zh-CN first


def test_a_tampered_file_shows_the_failing_step_in_red_with_its_reason(
    api: Any, people: People, anchored: dict[str, Any]
) -> None:
    page = send(auditor(api), file=DATA + b"!", bundle=as_json(anchored["bundle"]))
    assert page.status_code == 200
    found = steps(page)
    status, ok, body = found["content_hash"]
    assert (status, ok) == ("failed", "false") and 'data-reason="content_mismatch"' in body
    assert "文件与记录的哈希不一致" in body  # the reason, in words
    assert [s for s, _, _ in found.values()][1:] == ["not_run"] * 3
    assert 'data-outcome="not_authentic"' in page.text


def test_a_forged_bundle_fails_at_the_record(api: Any, people: People, anchored: dict[str, Any]) -> None:
    forged = copy.deepcopy(anchored["bundle"])
    forged["record"]["size"] += 1  # the record says another size than the one hashed into the log
    found = steps(send(auditor(api), file=DATA, bundle=as_json(forged)))
    assert found["content_hash"][:2] == ("passed", "true")
    assert found["record"][:2] == ("failed", "false") and 'data-reason="record_tampered"' in found["record"][2]


def test_a_bundle_naming_another_contract_fails_against_the_trust_root(
    api: Any, people: People, anchored: dict[str, Any]
) -> None:
    """The bundle's own contract address is only compared with the node's trust root, never trusted."""
    forged = copy.deepcopy(anchored["bundle"])
    forged["anchor"]["contract"] = "0x" + "ab" * 20
    found = steps(send(auditor(api), file=DATA, bundle=as_json(forged)))
    assert [found[n][:2] for n in ("content_hash", "record", "inclusion")] == [("passed", "true")] * 3
    assert found["chain"][:2] == ("failed", "false") and 'data-reason="contract_untrusted"' in found["chain"][2]


def test_without_the_file_the_content_step_is_undecided(api: Any, people: People, anchored: dict[str, Any]) -> None:
    page = send(auditor(api), bundle=as_json(anchored["bundle"]))
    found = steps(page)
    assert found["content_hash"][:2] == ("indeterminate", "none")
    assert 'data-reason="content_not_given"' in found["content_hash"][2]
    assert 'data-outcome="indeterminate"' in page.text


def certificate(api: Any, anchored: dict[str, Any]) -> dict[str, Any]:
    body = {"bundle": anchored["bundle"], "content_sha256": anchored["item"]["content_sha256"], "certificate": True}
    r = api.post("/verify", json=body)
    assert r.status_code == 200, r.text
    return r.json()["certificate"]


def test_a_certificate_passes_and_a_tampered_one_fails_at_the_signature(
    api: Any, people: People, anchored: dict[str, Any]
) -> None:
    cert = certificate(api, anchored)
    client = auditor(api, "secauditor", people.passwords["security_auditor"])  # the security auditor too
    page = send(client, certificate=as_json(cert))
    assert page.status_code == 200, page.text
    found = steps(page)
    assert list(found) == ["certificate_format", "key_listed", "signature", "key_valid_at_issue", "recorded_outcome"]
    assert all(ok == "true" for _, ok, _ in found.values()), found
    assert 'data-kind="certificate"' in page.text and 'data-outcome="authentic"' in page.text
    assert anchored["item"]["id"] in page.text and 'id="recorded-steps"' in page.text  # what it says

    tampered = copy.deepcopy(cert)
    tampered["payload"]["bundle"]["record"]["size"] += 1  # changed after signing
    found = steps(send(client, certificate=as_json(tampered)))
    assert [found[n][:2] for n in ("certificate_format", "key_listed")] == [("passed", "true")] * 2
    status, ok, body = found["signature"]
    assert (status, ok) == ("failed", "false") and 'data-reason="bad_signature"' in body
    assert found["key_valid_at_issue"][0] == found["recorded_outcome"][0] == "not_run"


def test_a_certificate_signed_by_another_key_is_key_untrusted(
    api: Any, people: People, anchored: dict[str, Any], node_ctx: Any
) -> None:
    from verifier.certificate import generate_signing_key, issue_certificate

    result = node_ctx.verify_proof(anchored["bundle"], content_sha256=anchored["item"]["content_sha256"])
    forged = issue_certificate(result, anchored["bundle"], generate_signing_key(), datetime.now(UTC), "an impostor",
                               trust_root_sha256=node_ctx.trust_root.sha256)  # fmt: skip
    page = send(auditor(api), certificate=as_json(forged))
    found = steps(page)
    assert found["certificate_format"][1] == "true"
    assert found["key_listed"][:2] == ("failed", "false") and 'data-reason="key_untrusted"' in found["key_listed"][2]
    assert 'data-outcome="not_authentic"' in page.text


def test_a_certificate_recording_a_failed_verification_fails_at_its_outcome(
    api: Any, people: People, anchored: dict[str, Any]
) -> None:
    body = {"bundle": anchored["bundle"], "content_sha256": "00" * 32, "certificate": True}
    cert = api.post("/verify", json=body).json()["certificate"]
    found = steps(send(auditor(api), certificate=as_json(cert)))
    assert found["signature"][1] == "true"  # genuine, but it says the content did not match
    status, ok, html = found["recorded_outcome"]
    assert (status, ok) == ("failed", "false") and 'data-reason="content_mismatch"' in html


@pytest.mark.parametrize(
    ("files", "status", "reason"),
    [
        ({"bundle": b"{not json"}, 422, "bundle_not_json"),
        ({"certificate": "证书".encode("gb18030")}, 422, "certificate_not_json"),
        ({"bundle": b"[" * 200 + b"]" * 200}, 400, "json_too_deep"),
        ({"file": b"only a file"}, 422, "nothing_to_verify"),
        ({"bundle": b"{}", "certificate": b"{}"}, 422, "verify_one_at_a_time"),
        ({"bundle": b" " * (1024 * 1024 + 1)}, 413, "upload_too_large"),
    ],
)  # fmt: skip
def test_what_cannot_be_verified_is_a_clear_4xx_page(
    api: Any, people: People, files: dict[str, bytes], status: int, reason: str
) -> None:
    client = auditor(api)
    page = send(client, **files)
    assert page.status_code == status, page.text[:500]
    assert f'id="verify-error" data-reason="{reason}"' in page.text
    assert 'id="verify-bundle-form"' in page.text  # the form again, to try once more
    assert client.get("/verify-record").status_code == 200


def test_a_file_over_the_upload_limit_is_refused_while_it_streams(
    api: Any, people: People, node_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_ctx.settings, "max_upload_bytes", 1000)
    page = send(auditor(api), file=b"x" * 1001, bundle=b"{}")
    assert page.status_code == 413 and 'data-reason="upload_too_large"' in page.text


def test_a_post_that_is_no_upload_form_is_refused(api: Any, people: People) -> None:
    client = auditor(api)
    token = csrf_of(client.get("/verify-record"))
    page = client.post("/verify-record", data={"csrf_token": token})  # urlencoded, not multipart
    assert page.status_code == 422 and 'data-reason="not_multipart"' in page.text


def test_the_csrf_token_is_checked_before_the_file_is_read(api: Any, people: People, anchored: dict[str, Any]) -> None:
    client = auditor(api)
    for token in (None, "not the token"):
        page = send(client, token=token, file=DATA, bundle=as_json(anchored["bundle"]))
        assert page.status_code == 403 and 'data-reason="csrf_failed"' in page.text
    # a bearer caller without a cookie carries no ambient authority: no token needed (as with check_csrf)
    r = api.post("/verify-record", headers={"Authorization": f"Bearer {people.tokens['auditor']}"},
                 files={"bundle": ("b.json", as_json(anchored["bundle"]), "application/json")})  # fmt: skip
    assert r.status_code == 200 and 'data-outcome="indeterminate"' in r.text


@pytest.mark.parametrize("username", ["borrower", "approver", "archivist", "secadmin"])
def test_other_roles_are_refused(api: Any, people: People, username: str) -> None:
    role = {"secadmin": "security_admin"}.get(username, username)
    client = auditor(api, username, people.passwords[role])
    page = client.get("/verify-record")
    assert page.status_code == 403 and 'data-reason="forbidden"' in page.text
    assert 'href="/verify-record"' not in client.get("/").text  # no link to it either
    assert send(client, token=csrf_of(client.get("/profile")), bundle=b"{}").status_code == 403


def test_anonymous_goes_to_the_login(api: Any) -> None:
    page = browser(api).get("/verify-record")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fverify-record")


def test_verifying_writes_no_audit_event(api: Any, people: People, node_ctx: Any, anchored: dict[str, Any]) -> None:
    """Like POST /verify: a computation that changes nothing, open to anyone through the API, is no event."""
    client = auditor(api)
    token = csrf_of(client.get("/verify-record"))
    before = last_seq(node_ctx)
    assert send(client, token=token, file=DATA, bundle=as_json(anchored["bundle"])).status_code == 200
    assert send(client, token=token, bundle=b"{not json").status_code == 422
    assert last_seq(node_ctx) == before
    assert 'href="/verify-record"' in client.get("/").text  # the auditor's nav links to it


def test_every_step_status_and_outcome_has_words_in_both_languages() -> None:
    from node.core import web
    from node.trust.verification import CERTIFICATE_STEPS, FAILED_AT
    from verifier.verify import EXIT_CODES, STEP_NAMES

    for lang in web.LANGUAGES:
        keys = set(web.catalogue(lang))
        assert {f"verify.step.{n}" for n in (*STEP_NAMES, *CERTIFICATE_STEPS)} <= keys
        assert {f"verify.status.{s}" for s in ("passed", "failed", "indeterminate", "not_run")} <= keys
        assert {f"verify.outcome.{o}" for o in EXIT_CODES} <= keys
        assert {f"verify.reason.{code}" for code in FAILED_AT} <= keys
        assert {f"verify.reason.{code}" for code in ("content_mismatch", "record_tampered", "bad_inclusion_path",
                                                     "root_not_on_chain", "contract_untrusted")} <= keys  # fmt: skip
