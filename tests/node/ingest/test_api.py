"""The node's HTTP API on the in-process chain: ingest, proofs, anchoring, verification, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from anchor.models import Log
from node.core.models import Item
from tests.helpers.api import META, upload
from verifier.certificate import verify_certificate
from verifier.trustroot import load_trust_root


def counts(node_ctx) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with node_ctx.sessions() as s:
        items = s.scalar(select(func.count()).select_from(Item))
        # item logs only: audit events go to the fonds' audit log "<fonds>/audit" (node/audit/service.py)
        size = s.scalar(select(func.coalesce(func.sum(Log.size), 0)).where(Log.fonds_code.not_like("%/audit")))
    return items, size


def test_ingest_anchor_proof_verify(api) -> None:  # type: ignore[no-untyped-def]
    data = b"%PDF-1.7 port dispatch notice" * 100
    r = upload(api, data)
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert item["retention"] == "permanent" and item["title"] == META["title"]

    # not anchored yet: 409 with a reason
    r = api.get(f"/items/{item['id']}/proof")
    assert r.status_code == 409 and r.json()["error"] == "not_anchored"

    r = api.post("/anchor")
    assert r.status_code == 200, r.text
    assert r.json()["submitted"]["logs"] == 2  # the fonds' log and its audit log (node/audit/service.py)

    bundle = api.get(f"/items/{item['id']}/proof").json()
    assert bundle["v"] == 1 and bundle["tree_size"] == 1 and bundle["leaf_index"] == item["leaf_index"]

    r = api.post(
        "/verify", json={"bundle": bundle, "content_sha256": item["content_sha256"], "certificate": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]["outcome"] == "authentic"
    cert = r.json()["certificate"]
    assert cert["public_key"] == api.get("/verifier/key").json()["public_key"]
    trust = load_trust_root(api.get("/trust").json())
    assert cert["payload"]["trust_root_sha256"] == trust.sha256
    assert verify_certificate(cert, trust)["outcome"] == "authentic"

    r = api.post("/verify", json={"bundle": bundle, "content_sha256": "00" * 32})
    assert r.json()["result"]["outcome"] == "not_authentic"
    assert r.json()["result"]["reason_code"] == "content_mismatch"

    assert api.get(f"/items/{item['id']}/content").content == data


def test_second_batch_extends_first_checkpoint(api) -> None:  # type: ignore[no-untyped-def]
    first = [upload(api, f"a{i}".encode()).json() for i in range(3)]
    api.post("/anchor")
    second = [upload(api, f"b{i}".encode()).json() for i in range(4)]
    report = api.post("/anchor").json()
    assert [c["tree_size"] for c in report["checkpoints"] if c["log_id"] == first[0]["log_id"]] == [7]
    # proofs against the first covering checkpoint never change; latest covers everything
    assert api.get(f"/items/{first[0]['id']}/proof").json()["tree_size"] == 3
    assert api.get(f"/items/{first[0]['id']}/proof?against=latest").json()["tree_size"] == 7
    assert api.get(f"/items/{second[0]['id']}/proof").json()["tree_size"] == 7
    assert api.post("/anchor").json()["submitted"] is None  # nothing new: skipped
    cps = api.get("/checkpoints", params={"fonds": "Z001"}).json()["checkpoints"]
    assert [c["tree_size"] for c in cps] == [7, 3] and all(c["status"] == "CONFIRMED" for c in cps)


def test_duplicate_upload_returns_existing_item(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    meta = {**META, "source_path": "oa/2024/1.pdf"}
    first = upload(api, b"same bytes", meta)
    again = upload(api, b"same bytes", meta)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert counts(node_ctx) == (1, 1)


def test_api_key_required(api) -> None:  # type: ignore[no-untyped-def]
    del api.headers["Authorization"]
    assert upload(api, b"x").status_code == 401
    assert api.get("/items").status_code == 401
    assert api.get("/status").status_code == 401
    api.headers["Authorization"] = "Bearer alk_wrong"
    assert api.get("/items").status_code == 401
    assert api.get("/health").status_code == 200
    assert api.get("/verifier/key").status_code == 200


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({**META, "year": "not a year"}, "metadata_invalid"),
        ({**META, "retention": "forever"}, "metadata_invalid"),
        ({k: v for k, v in META.items() if k != "title"}, "metadata_invalid"),
        ({**META, "unexpected": 1}, "metadata_invalid"),
        ({**META, "fonds": "../etc"}, "metadata_invalid"),
    ],
)
def test_bad_metadata_refused_and_nothing_left(api, node_ctx, meta, reason) -> None:  # type: ignore[no-untyped-def]
    r = upload(api, b"some file", meta)
    assert r.status_code == 422 and r.json()["error"] == reason, r.text
    assert counts(node_ctx) == (0, 0)
    assert list(Path(node_ctx.blobs.tmp_dir).iterdir()) == []


def test_malformed_uploads(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    r = api.post("/items", content=b"not multipart", headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and r.json()["error"] == "not_multipart"
    r = api.post("/items", files={"file": ("a.pdf", b"x", "application/pdf")})
    assert r.status_code == 422 and r.json()["error"] == "missing_part"
    r = api.post("/items", files={"metadata": (None, b"{not json", "application/json"), "file": ("a", b"x")})
    assert r.status_code == 422 and r.json()["error"] == "metadata_not_json"
    r = api.post("/items", files={"other": ("a", b"x"), "metadata": (None, b"{}"), "file": ("a", b"x")})
    assert r.status_code == 422 and r.json()["error"] == "bad_form_part"
    assert counts(node_ctx) == (0, 0)
    assert list(Path(node_ctx.blobs.tmp_dir).iterdir()) == []


def test_oversized_upload_refused(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    node_ctx.settings = node_ctx.settings.model_copy(update={"max_upload_bytes": 1000})
    # the app captured settings at creation: build a fresh app on the changed settings
    from fastapi.testclient import TestClient

    from node.app import create_app

    with TestClient(create_app(node_ctx, scheduler=False)) as small:
        small.headers.update(api.headers)
        r = upload(small, b"x" * 5000)
        assert r.status_code == 413 and r.json()["error"] == "upload_too_large"
        assert upload(small, b"x" * 999).status_code == 201
    assert counts(node_ctx) == (1, 1)
    assert list(Path(node_ctx.blobs.tmp_dir).iterdir()) == []


def test_unknown_item(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/items/nope").status_code == 404
    assert api.get("/items/nope/proof").json()["error"] == "item_not_found"


def test_status_reports_pending_records(api) -> None:  # type: ignore[no-untyped-def]
    upload(api, b"one")
    upload(api, b"two")
    log = next(log for log in api.get("/status").json()["logs"] if log["fonds"] == "Z001")
    assert (log["size"], log["anchored_size"], log["pending_records"]) == (2, 0, 2)
    api.post("/anchor")
    log = next(log for log in api.get("/status").json()["logs"] if log["fonds"] == "Z001")
    assert log["pending_records"] == 0 and log["last_checkpoint"]["status"] == "CONFIRMED"


def test_large_upload_streams_intact(api) -> None:  # type: ignore[no-untyped-def]
    """Several write batches (hashed and written off the event loop) still give the exact bytes."""
    import os

    data = os.urandom(5 * 1024 * 1024 + 12345)
    r = upload(api, data, name="scan.tif")
    assert r.status_code == 201, r.text
    assert r.json()["content_sha256"] == hashlib.sha256(data).hexdigest() and r.json()["size"] == len(data)
    assert api.get(f"/items/{r.json()['id']}/content").content == data
