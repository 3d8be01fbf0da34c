"""Trust root documents: structure, signatures (verifier key + officer threshold), updates."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import rfc8785
from eth_account import Account

from tests.helpers.trust_builders import ROLES, TrustKit, sign_as_officer
from verifier.errors import TrustRootError
from verifier.records import log_id_for_fonds
from verifier.trustroot import (
    assemble,
    canonical_document_bytes,
    check_trust_update,
    format_trust_root,
    load_trust_root,
    load_trust_root_file,
    officer_signature,
    signing_message,
    trust_root_sha256,
    verifier_signature,
)


@pytest.fixture(scope="module")
def kit() -> TrustKit:
    return TrustKit()


def _code(doc: Any) -> str:
    with pytest.raises(TrustRootError) as info:
        load_trust_root(doc)
    return info.value.reason_code


def test_valid_document_loads(kit: TrustKit) -> None:
    doc = kit.document()
    tr = load_trust_root(doc)
    assert tr.version == 1 and tr.previous_sha256 is None
    assert tr.issued_at == datetime(2026, 11, 29, 17, tzinfo=UTC)
    assert tr.archive_name == "Port Group Archive"
    assert tr.fonds[0].code == "Z001"
    assert (tr.chain_id, tr.genesis_hash, tr.confirmations) == (1337, "0x" + "11" * 32, 1)
    assert tr.rpc_endpoints == ("http://127.0.0.1:8545",)
    assert tr.anchor_address == "0x" + "aa" * 20
    assert tr.roles_address == "0x" + "bb" * 20
    assert tr.permits_address == "0x" + "cc" * 20
    assert tr.contracts["ArchiveAnchor"].deployed_block == 3
    assert [o.role for o in tr.officers] == list(ROLES)
    assert tr.threshold == 2
    assert tr.sha256 == trust_root_sha256(doc["trust_root"])
    assert tr.document is doc
    assert set(tr.officer_signers) == {a.address.lower() for a in kit.officers.values()}


def test_digest_and_signing_message() -> None:
    body = {"b": 1, "a": [1, "x"]}
    import hashlib

    assert trust_root_sha256(body) == hashlib.sha256(b'{"a":[1,"x"],"b":1}').hexdigest()
    assert signing_message("ab" * 32) == b"archive-ledger trust root v1 " + b"ab" * 32


def test_canonical_file_round_trip(kit: TrustKit, tmp_path: Path) -> None:
    doc = kit.document()
    raw = canonical_document_bytes(doc)
    assert json.loads(raw) == doc
    path = tmp_path / "trust.json"
    path.write_bytes(raw)
    assert load_trust_root_file(path).sha256 == load_trust_root(doc).sha256


def test_file_missing_or_not_json(tmp_path: Path) -> None:
    with pytest.raises(TrustRootError) as info:
        load_trust_root_file(tmp_path / "nope.json")
    assert info.value.reason_code == "trust_root_malformed"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TrustRootError) as info:
        load_trust_root_file(tmp_path / "bad.json")
    assert info.value.reason_code == "trust_root_malformed"


def test_key_valid_at(kit: TrustKit) -> None:
    tr = load_trust_root(kit.document())
    key = bytes(kit.verifier_key.verify_key).hex()
    assert tr.key_valid_at(key, datetime(2026, 1, 1, tzinfo=UTC))
    assert tr.key_valid_at(key.upper(), datetime(2030, 1, 1, tzinfo=UTC))
    assert not tr.key_valid_at(key, datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not tr.key_valid_at("00" * 32, datetime(2026, 6, 1, tzinfo=UTC))


# Each change keeps the body well formed, so only the signatures can catch it.
TAMPERS: dict[str, Any] = {
    "version": lambda b: b.update(version=2, previous_sha256="00" * 32),
    "issued_at": lambda b: b.update(issued_at="2026-11-29T17:00:01Z"),
    "archive": lambda b: b["archive"].update(name="Other Archive"),
    "fonds": lambda b: b["fonds"][0].update(audit_log_id="cd" * 32),
    "fonds_removed": lambda b: b.update(fonds=[]),
    "chain_id": lambda b: b["chain"].update(chain_id=1338),
    "genesis_hash": lambda b: b["chain"].update(genesis_hash="0x" + "12" * 32),
    "confirmations": lambda b: b["chain"].update(confirmations=12),
    "rpc_endpoints": lambda b: b["chain"].update(rpc_endpoints=["http://evil.example:8545"]),
    "anchor_address": lambda b: b["contracts"]["ArchiveAnchor"].update(address="0x" + "dd" * 20),
    "anchor_block": lambda b: b["contracts"]["ArchiveAnchor"].update(deployed_block=4),
    "roles_address": lambda b: b["contracts"]["ArchiveRoles"].update(address="0x" + "dd" * 20),
    "permits_address": lambda b: b["contracts"]["ReadPermits"].update(address="0x" + "dd" * 20),
    "verifier_key": lambda b: b["verifier_keys"].append(
        {"public_key": "ee" * 32, "valid_from": "2026-01-01T00:00:00Z", "valid_until": None}
    ),
    "key_valid_until": lambda b: b["verifier_keys"][0].update(valid_until="2027-01-01T00:00:00Z"),
    "officer_role": lambda b: b["officers"][0].update(role="security_auditor"),
    "officer_address": lambda b: b["officers"][2].update(address="0x" + "ff" * 20),
    "threshold": lambda b: b.update(threshold=3),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_every_field_is_covered_by_the_signatures(kit: TrustKit, name: str) -> None:
    doc = kit.document()
    TAMPERS[name](doc["trust_root"])
    assert _code(doc) == "trust_root_bad_signature"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(v=2),
        lambda d: d.pop("signatures"),
        lambda d: d.update(extra=1),
        lambda d: d["trust_root"].update(type="archive-ledger/other"),
        lambda d: d["trust_root"].pop("threshold"),
        lambda d: d["trust_root"].update(surprise=True),
        lambda d: d["trust_root"].update(threshold=1),
        lambda d: d["trust_root"].update(threshold=4),
        lambda d: d["trust_root"].update(version=0),
        lambda d: d["trust_root"].update(version=2),  # no previous_sha256
        lambda d: d["trust_root"].update(previous_sha256="00" * 32),  # version 1 with a previous
        lambda d: d["trust_root"].update(issued_at="2026-11-29 17:00:00"),
        lambda d: d["trust_root"]["fonds"][0].update(log_id="00" * 32),
        lambda d: d["trust_root"]["chain"].update(chain_id="1337"),
        lambda d: d["trust_root"]["chain"].update(genesis_hash="11" * 32),
        lambda d: d["trust_root"]["chain"].update(confirmations=0),
        lambda d: d["trust_root"]["chain"].update(rpc_endpoints=["file:///etc/passwd"]),
        lambda d: d["trust_root"]["contracts"].pop("ReadPermits"),
        lambda d: d["trust_root"]["contracts"]["ArchiveAnchor"].update(address="0x" + "AA" * 20),
        lambda d: d["trust_root"].update(verifier_keys=[]),
        lambda d: d["trust_root"]["verifier_keys"][0].update(valid_until="2025-01-01T00:00:00Z"),
        lambda d: d["trust_root"]["officers"].append(dict(d["trust_root"]["officers"][0])),
        lambda d: d["signatures"][0].update(kind="notary"),
        lambda d: d["signatures"][1].update(signature="0x" + "ab" * 64),
        lambda d: d["signatures"][1].update(address=d["signatures"][1]["address"].upper()),
        lambda d: d["signatures"][0].update(signature=d["signatures"][0]["signature"][:-2]),
    ],
)
def test_malformed_documents(kit: TrustKit, change: Any) -> None:
    doc = kit.document()
    change(doc)
    assert _code(doc) == "trust_root_malformed"


def test_not_an_object() -> None:
    assert _code([1, 2]) == "trust_root_malformed"
    assert _code(None) == "trust_root_malformed"


def test_malformed_message_says_what_is_wrong(kit: TrustKit) -> None:
    with pytest.raises(TrustRootError, match="trust root must be a JSON object, got list") as info:
        load_trust_root([1, 2])
    assert info.value.message == str(info.value) == "trust root must be a JSON object, got list"
    doc = kit.document()
    doc["v"] = 99
    with pytest.raises(TrustRootError, match="unsupported trust root document version 99"):
        load_trust_root(doc)


def test_broken_officer_signature_invalidates_the_document(kit: TrustKit) -> None:
    doc = kit.document()  # three officers sign: two would be enough
    sig = doc["signatures"][3]
    sig["signature"] = sig["signature"][:10] + ("0" if sig["signature"][10] != "0" else "1") + sig["signature"][11:]
    assert _code(doc) == "trust_root_bad_signature"


def test_officer_signature_claiming_another_address(kit: TrustKit) -> None:
    doc = kit.document()
    doc["signatures"][1]["address"] = doc["signatures"][2]["address"]
    assert _code(doc) == "trust_root_bad_signature"


def test_broken_verifier_signature(kit: TrustKit) -> None:
    doc = kit.document()
    doc["signatures"][0]["signature"] = "00" * 64
    assert _code(doc) == "trust_root_bad_signature"


def test_only_one_officer(kit: TrustKit) -> None:
    assert _code(kit.document(officers=("system_admin",))) == "trust_root_bad_signature"


def test_two_officers_suffice(kit: TrustKit) -> None:
    tr = load_trust_root(kit.document(officers=("security_admin", "security_auditor")))
    assert len(tr.officer_signers) == 2


def test_officer_not_listed_does_not_count(kit: TrustKit) -> None:
    body = kit.body()
    outsider = Account.create()
    doc = kit.document(body, officers=("system_admin",))
    doc["signatures"].append(sign_as_officer(outsider, "security_admin", body))
    assert _code(doc) == "trust_root_bad_signature"


def test_officer_signing_under_another_role_does_not_count(kit: TrustKit) -> None:
    body = kit.body()
    doc = kit.document(body, officers=("system_admin",))
    doc["signatures"].append(sign_as_officer(kit.officers["security_admin"], "security_auditor", body))
    assert _code(doc) == "trust_root_bad_signature"


def test_duplicate_officer_counted_once(kit: TrustKit) -> None:
    body = kit.body()
    doc = kit.document(body, officers=("system_admin",))
    doc["signatures"].append(sign_as_officer(kit.officers["system_admin"], "system_admin", body))
    assert _code(doc) == "trust_root_bad_signature"


def test_verifier_signature_missing(kit: TrustKit) -> None:
    assert _code(kit.document(verifier=None)) == "trust_root_bad_signature"


def test_verifier_signature_by_unlisted_key(kit: TrustKit) -> None:
    assert _code(kit.document(verifier=nacl.signing.SigningKey.generate())) == "trust_root_bad_signature"


def test_verifier_signature_by_expired_key(kit: TrustKit) -> None:
    body = kit.body()
    body["verifier_keys"][0]["valid_until"] = "2026-11-29T17:00:00Z"  # retired at the issue time
    assert _code(kit.document(body)) == "trust_root_bad_signature"


def test_verifier_signature_by_key_not_yet_valid(kit: TrustKit) -> None:
    body = kit.body()
    body["verifier_keys"][0]["valid_from"] = "2026-11-29T17:00:01Z"
    assert _code(kit.document(body)) == "trust_root_bad_signature"


def test_rotated_key_document_signed_by_the_new_key(kit: TrustKit) -> None:
    new_key = nacl.signing.SigningKey.generate()
    body = kit.body()
    body["verifier_keys"][0]["valid_until"] = "2026-11-29T17:00:00Z"
    body["verifier_keys"].append(
        {"public_key": bytes(new_key.verify_key).hex(), "valid_from": "2026-11-29T17:00:00Z", "valid_until": None}
    )
    tr = load_trust_root(kit.document(body, verifier=new_key))
    old = bytes(kit.verifier_key.verify_key).hex()
    assert tr.key_valid_at(old, datetime(2026, 6, 1, tzinfo=UTC))
    assert not tr.key_valid_at(old, datetime(2026, 11, 29, 17, tzinfo=UTC))
    assert tr.key_valid_at(bytes(new_key.verify_key).hex(), datetime(2026, 11, 29, 17, tzinfo=UTC))


# -- updates ----------------------------------------------------------------------------------------------


def _next(kit: TrustKit, pinned_doc: dict, **changes: Any) -> dict:
    body = kit.body(version=pinned_doc["trust_root"]["version"] + 1, issued_at="2026-12-01T00:00:00Z", **changes)
    body.setdefault("previous_sha256", None)
    if "previous_sha256" not in changes:
        body["previous_sha256"] = trust_root_sha256(pinned_doc["trust_root"])
    return body


def _update_code(pinned: Any, newer: dict) -> str:
    with pytest.raises(TrustRootError) as info:
        check_trust_update(pinned, newer)
    return info.value.reason_code


def test_update_signed_by_the_pinned_officers(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    body = _next(kit, pinned_doc)
    body["chain"]["confirmations"] = 3
    newer = check_trust_update(pinned, kit.document(body, officers=("system_admin", "security_auditor")))
    assert newer.version == 2 and newer.previous_sha256 == pinned.sha256 and newer.confirmations == 3
    loaded = load_trust_root(newer.document)  # an already loaded trust root is taken as it is
    assert check_trust_update(pinned, loaded) is loaded


def test_update_replacing_one_officer_with_consent(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    replacement = Account.create()
    body = _next(kit, pinned_doc)
    body["officers"][2]["address"] = replacement.address.lower()
    accounts = {**kit.officers, "security_auditor": replacement}
    assert check_trust_update(pinned, kit.document(body, accounts=accounts)).version == 2


def test_update_rollback(kit: TrustKit) -> None:
    pinned_doc = kit.document(_next(kit, kit.document()))
    pinned = load_trust_root(pinned_doc)
    assert _update_code(pinned, kit.document()) == "trust_root_rollback"
    assert _update_code(pinned, pinned_doc) == "trust_root_rollback"


def test_update_signed_by_a_different_set_of_officers(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    others = {r: Account.create() for r in ROLES}
    body = _next(kit, pinned_doc, officers=[{"role": r, "address": a.address.lower()} for r, a in others.items()])
    newer = kit.document(body, accounts=others)
    load_trust_root(newer)  # valid alone...
    assert _update_code(pinned, newer) == "trust_root_unlinked"  # ...but not by the officers we trust


def test_update_with_only_one_pinned_officer(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    newcomer = Account.create()
    body = _next(kit, pinned_doc)
    body["officers"][1]["address"] = newcomer.address.lower()
    accounts = {**kit.officers, "security_admin": newcomer}
    newer = kit.document(body, accounts=accounts, officers=("system_admin", "security_admin"))
    assert _update_code(pinned, newer) == "trust_root_unlinked"


def test_update_with_a_wrong_previous_digest(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    newer = kit.document(_next(kit, pinned_doc, previous_sha256="00" * 32))
    assert _update_code(pinned, newer) == "trust_root_unlinked"


def test_update_skipping_a_version_needs_only_the_officers(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    body = _next(kit, pinned_doc, previous_sha256="00" * 32)
    body["version"] = 3
    assert check_trust_update(pinned, kit.document(body)).version == 3


@pytest.mark.parametrize("change", [{"chain_id": 4242}, {"genesis_hash": "0x" + "22" * 32}])
def test_update_changing_the_chain(kit: TrustKit, change: dict) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    assert _update_code(pinned, kit.document(_next(kit, pinned_doc, **change))) == "wrong_chain"


def test_update_must_be_valid_alone(kit: TrustKit) -> None:
    pinned_doc = kit.document()
    pinned = load_trust_root(pinned_doc)
    newer = kit.document(_next(kit, pinned_doc), officers=("system_admin",))
    assert _update_code(pinned, newer) == "trust_root_bad_signature"


def test_format_trust_root(kit: TrustKit) -> None:
    tr = load_trust_root(kit.document(officers=("system_admin", "security_admin")))
    text = format_trust_root(tr)
    assert "trust root version 1 of 'Port Group Archive', issued 2026-11-29T17:00:00Z" in text
    assert tr.sha256 in text and "0x" + "11" * 32 in text and "http://127.0.0.1:8545" in text
    assert "ArchiveAnchor" in text and "0x" + "aa" * 20 in text and "Z001" in text
    assert bytes(kit.verifier_key.verify_key).hex() in text
    auditor = kit.officers["security_auditor"].address.lower()
    line = next(x for x in text.splitlines() if auditor in x)
    assert "signed" not in line
    admin = kit.officers["system_admin"].address.lower()
    assert "signed" in next(x for x in text.splitlines() if admin in x)


def test_helpers_build_the_documented_shape(kit: TrustKit) -> None:
    body = kit.body()
    sig = verifier_signature(body, kit.verifier_key)
    assert set(sig) == {"kind", "public_key", "signature"} and len(sig["signature"]) == 128
    officer = sign_as_officer(kit.officers["system_admin"], "system_admin", body)
    assert officer["signature"].startswith("0x") and len(officer["signature"]) == 132
    assert officer["address"] == officer["address"].lower()
    doc = assemble(body, [sig])
    assert doc == {"v": 1, "trust_root": body, "signatures": [sig]}
    assert copy.deepcopy(doc) == doc


def test_format_trust_root_line_by_line(kit: TrustKit) -> None:
    """`trust show` text, exactly: an update (previous digest) with two endpoints, two fonds, a retired
    and a current verifier key, and two officers' signatures; then one with no fonds and no endpoints."""
    body = kit.body(version=2, previous_sha256="ab" * 32, rpc_endpoints=["http://a:1", "https://b:2"])
    body["fonds"].append({"code": "Y2", "log_id": log_id_for_fonds("Y2").hex(), "audit_log_id": "ef" * 32})
    retired = {"public_key": "12" * 32, "valid_from": "2025-01-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"}
    body["verifier_keys"].insert(0, retired)
    tr = load_trust_root(kit.document(body, officers=("security_auditor", "security_admin")))
    key = bytes(kit.verifier_key.verify_key).hex()
    officer = {role: kit.officers[role].address.lower() for role in ROLES}
    assert format_trust_root(tr).splitlines() == [
        "trust root version 2 of 'Port Group Archive', issued 2026-11-29T17:00:00Z",
        f"  sha256:        {tr.sha256}",
        f"  previous:      {'ab' * 32}",
        f"  chain:         id 1337, genesis 0x{'11' * 32}, 1 confirmation(s)",
        "  rpc endpoints: http://a:1, https://b:2",
        "  contracts:",
        f"    ArchiveAnchor  0x{'aa' * 20} (deployed in block 3)",
        f"    ArchiveRoles   0x{'bb' * 20} (deployed in block 2)",
        f"    ReadPermits    0x{'cc' * 20} (deployed in block 4)",
        "  fonds:",
        f"    Z001           log {log_id_for_fonds('Z001').hex()}, audit log {'ab' * 32}",
        f"    Y2             log {log_id_for_fonds('Y2').hex()}, audit log {'ef' * 32}",
        "  verifier keys:",
        f"    {'12' * 32} valid from 2025-01-01T00:00:00Z until 2026-01-01T00:00:00Z",
        f"    {key} valid from 2026-01-01T00:00:00Z (current)",
        "  officers (threshold 2):",
        f"    system_admin      {officer['system_admin']}",
        f"    security_admin    {officer['security_admin']}  signed",
        f"    security_auditor  {officer['security_auditor']}  signed",
    ]

    bare = load_trust_root(kit.document(kit.body(fonds=[], rpc_endpoints=[])))
    lines = format_trust_root(bare).splitlines()
    assert lines[2] == "  previous:      -" and lines[4] == "  rpc endpoints: -"
    assert lines[9:12] == ["  fonds:", "    -", "  verifier keys:"]
    assert lines[12] == f"    {key} valid from 2026-01-01T00:00:00Z (current)"


def test_trust_show_times_are_utc_whatever_the_local_zone(kit: TrustKit, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    tr = load_trust_root(kit.document())
    monkeypatch.setenv("TZ", "JST-9")  # a POSIX zone string: no tz database needed
    time.tzset()
    try:
        assert format_trust_root(tr).splitlines()[0].endswith("issued 2026-11-29T17:00:00Z")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_key_listed_ignores_hex_case_and_refuses_what_is_not_a_key(kit: TrustKit) -> None:
    tr = load_trust_root(kit.document())
    key = bytes(kit.verifier_key.verify_key).hex()
    assert tr.key_listed(key) and tr.key_listed(key.upper())
    assert not tr.key_listed("00" * 32)
    assert not tr.key_listed(None)  # type: ignore[arg-type]
    assert not tr.key_listed(bytes.fromhex(key))  # type: ignore[arg-type]


def test_trust_root_file_limits_and_unreadable_file(
    kit: TrustKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verifier.trustroot as trustroot_mod
    from verifier.trustroot import load_trust_root_file

    path = tmp_path / "trust.json"
    path.write_bytes(canonical_document_bytes(kit.document()))
    size = path.stat().st_size
    monkeypatch.setattr(trustroot_mod, "MAX_DOCUMENT_BYTES", size)
    assert load_trust_root_file(path).version == 1  # exactly the limit
    monkeypatch.setattr(trustroot_mod, "MAX_DOCUMENT_BYTES", size - 1)
    with pytest.raises(TrustRootError) as info:
        load_trust_root_file(path)
    assert (info.value.reason_code, info.value.message) == (
        "trust_root_malformed", f"trust root {path} is larger than {size - 1} bytes",
    )  # fmt: skip
    monkeypatch.undo()
    path.write_text("{not json")
    with pytest.raises(TrustRootError) as info:
        load_trust_root_file(path)
    assert info.value.reason_code == "trust_root_malformed"
    assert info.value.message.startswith(f"trust root {path} is not JSON: ")
    with pytest.raises(TrustRootError) as info:
        load_trust_root_file(tmp_path / "missing.json")
    assert info.value.reason_code == "trust_root_malformed"
    assert info.value.message.startswith(f"cannot read trust root {tmp_path / 'missing.json'}: [Errno 2]")


# Each refusal of a malformed trust root names the field and what is wrong with it, word for word (mutation
# testing found these messages unasserted; a wrong type must be this refusal too, never a TypeError).
MALFORMED_MESSAGES: dict[str, tuple[Any, str]] = {
    "sig_not_object": (
        lambda d: d["signatures"].__setitem__(0, 5),
        "signatures[0] must be an object",
    ),
    "sig_verifier_fields": (
        lambda d: d["signatures"][0].update(x=1),
        "signatures[0] fields must be kind, public_key, signature; got kind, public_key, signature, x",
    ),
    "sig_verifier_key_type": (
        lambda d: d["signatures"][0].update(public_key=123),
        "signatures[0].public_key must be 64 lower-case hex characters",
    ),
    "sig_verifier_signature": (
        lambda d: d["signatures"][0].update(signature="ab"),
        "signatures[0].signature must be 128 lower-case hex characters",
    ),
    "sig_officer_fields": (
        lambda d: d["signatures"][1].update(x=1),
        "signatures[1] fields must be address, kind, role, signature; got address, kind, role, signature, x",
    ),
    "sig_officer_role": (
        lambda d: d["signatures"][1].update(role=""),
        "signatures[1].role must be a non-empty string",
    ),
    "sig_officer_address": (
        lambda d: d["signatures"][1].update(address="0xAB"),
        "signatures[1].address must be a lower-case 0x address",
    ),
    "sig_officer_signature": (
        lambda d: d["signatures"][1].update(signature="0xab"),
        "signatures[1].signature must be 0x and 130 lower-case hex characters (r|s|v)",
    ),
    "sig_kind": (
        lambda d: d["signatures"][0].update(kind="notary"),
        "signatures[0].kind must be 'verifier' or 'officer', got 'notary'",
    ),
    "contract_not_object": (
        lambda d: d["trust_root"]["contracts"].__setitem__("ArchiveAnchor", 5),
        "trust_root.contracts.ArchiveAnchor must be an object",
    ),
    "contract_address": (
        lambda d: d["trust_root"]["contracts"]["ArchiveAnchor"].update(address=7),
        "trust_root.contracts.ArchiveAnchor.address must be a lower-case 0x address, got 7",
    ),
    "contract_block": (
        lambda d: d["trust_root"]["contracts"]["ArchiveAnchor"].update(deployed_block=-1),
        "trust_root.contracts.ArchiveAnchor.deployed_block must be an integer >= 0, got -1",
    ),
    "fonds_not_object": (
        lambda d: d["trust_root"]["fonds"].__setitem__(0, 5),
        "trust_root.fonds[0] must be an object",
    ),
    "fonds_code": (
        lambda d: d["trust_root"]["fonds"][0].update(code=" "),
        "trust_root.fonds[0].code must be a non-empty string",
    ),
    "officer_not_object": (
        lambda d: d["trust_root"]["officers"].__setitem__(0, 5),
        "trust_root.officers[0] must be an object",
    ),
    "officer_role": (
        lambda d: d["trust_root"]["officers"][0].update(role=""),
        "trust_root.officers[0].role must be a non-empty string",
    ),
    "officer_address": (
        lambda d: d["trust_root"]["officers"][0].update(address=123),
        "trust_root.officers[0].address must be a lower-case 0x address, got 123",
    ),
    "key_not_object": (
        lambda d: d["trust_root"]["verifier_keys"].__setitem__(0, 5),
        "trust_root.verifier_keys[0] must be an object",
    ),
    "key_type": (
        lambda d: d["trust_root"]["verifier_keys"][0].update(public_key=123),
        "trust_root.verifier_keys[0].public_key must be 64 lower-case hex characters",
    ),
    "key_from": (
        lambda d: d["trust_root"]["verifier_keys"][0].update(valid_from="x"),
        "trust_root.verifier_keys[0].valid_from must look like 2026-11-29T17:00:00Z, got 'x'",
    ),
    "key_until": (
        lambda d: d["trust_root"]["verifier_keys"][0].update(valid_until="y"),
        "trust_root.verifier_keys[0].valid_until must look like 2026-11-29T17:00:00Z, got 'y'",
    ),
    "key_same_time": (
        lambda d: d["trust_root"]["verifier_keys"][0].update(
            valid_until="2026-01-01T00:00:00Z", valid_from="2026-01-01T00:00:00Z"
        ),
        "trust_root.verifier_keys[0]: valid_until is not after valid_from",
    ),
    "body_not_object": (
        lambda d: d.update(trust_root=5),
        "trust_root must be a JSON object",
    ),
    "version": (
        lambda d: d["trust_root"].update(version=0),
        "trust_root.version must be an integer >= 1, got 0",
    ),
    "previous_in_v1": (
        lambda d: d["trust_root"].update(previous_sha256="00" * 32),
        "trust_root.previous_sha256 must be null in version 1",
    ),
    "previous_missing": (
        lambda d: d["trust_root"].update(version=2),
        "trust_root.previous_sha256 must be 64 lower-case hex characters after version 1",
    ),
    "issued_at": (
        lambda d: d["trust_root"].update(issued_at="2026-11-29 17:00:00"),
        "trust_root.issued_at must look like 2026-11-29T17:00:00Z, got '2026-11-29 17:00:00'",
    ),
    "archive_not_object": (
        lambda d: d["trust_root"].update(archive=5),
        "trust_root.archive must be an object",
    ),
    "archive_name": (
        lambda d: d["trust_root"]["archive"].update(name=""),
        "trust_root.archive.name must be a non-empty string",
    ),
    "fonds_not_list": (
        lambda d: d["trust_root"].update(fonds=5),
        "trust_root.fonds must be a list",
    ),
    "fonds_twice": (
        lambda d: d["trust_root"]["fonds"].append(dict(d["trust_root"]["fonds"][0])),
        "trust_root.fonds lists a fonds code twice",
    ),
    "chain_not_object": (
        lambda d: d["trust_root"].update(chain=5),
        "trust_root.chain must be an object",
    ),
    "chain_id": (
        lambda d: d["trust_root"]["chain"].update(chain_id=0),
        "trust_root.chain.chain_id must be an integer >= 1, got 0",
    ),
    "genesis": (
        lambda d: d["trust_root"]["chain"].update(genesis_hash="11" * 32),
        "trust_root.chain.genesis_hash must be 0x and 64 lower-case hex characters, got '" + "11" * 32 + "'",
    ),
    "confirmations": (
        lambda d: d["trust_root"]["chain"].update(confirmations=0),
        "trust_root.chain.confirmations must be an integer >= 1, got 0",
    ),
    "endpoints_not_list": (
        lambda d: d["trust_root"]["chain"].update(rpc_endpoints=5),
        "trust_root.chain.rpc_endpoints must be a list",
    ),
    "endpoint_scheme": (
        lambda d: d["trust_root"]["chain"].update(rpc_endpoints=["file:///etc/passwd"]),
        "trust_root.chain.rpc_endpoints[0] must be an http(s) URL, got 'file:///etc/passwd'",
    ),
    "contracts_missing": (
        lambda d: d["trust_root"]["contracts"].pop("ReadPermits"),
        "trust_root.contracts must name exactly ArchiveAnchor, ArchiveRoles, ReadPermits",
    ),
    "keys_not_list": (
        lambda d: d["trust_root"].update(verifier_keys=5),
        "trust_root.verifier_keys must be a list",
    ),
    "keys_empty": (
        lambda d: d["trust_root"].update(verifier_keys=[]),
        "trust_root.verifier_keys must list at least one key",
    ),
    "keys_twice": (
        lambda d: d["trust_root"]["verifier_keys"].append(dict(d["trust_root"]["verifier_keys"][0])),
        "trust_root.verifier_keys lists a key twice",
    ),
    "officers_not_list": (
        lambda d: d["trust_root"].update(officers=5),
        "trust_root.officers must be a list",
    ),
    "officers_twice": (
        lambda d: d["trust_root"]["officers"].append(dict(d["trust_root"]["officers"][0])),
        "trust_root.officers lists an address twice",
    ),
    "threshold": (
        lambda d: d["trust_root"].update(threshold=4),
        "trust_root.threshold 4 is more than the 3 officer(s) listed",
    ),
    "doc_fields": (
        lambda d: d.update(extra=1),
        "trust root fields must be v, trust_root, signatures; got ['extra', 'signatures', 'trust_root', 'v']",
    ),
    "type": (
        lambda d: d["trust_root"].update(type="archive-ledger/other"),
        "trust_root.type must be 'archive-ledger/trust-root', got 'archive-ledger/other'",
    ),
    "body_fields": (
        lambda d: (d["trust_root"].pop("archive"), d["trust_root"].update(x=1)),
        "trust_root fields: missing ['archive'], unexpected ['x']",
    ),
    "threshold_below_two": (
        lambda d: d["trust_root"].update(threshold=1),
        "trust_root.threshold must be an integer >= 2, got 1",
    ),
    "version_beyond_json_integers": (
        lambda d: d["trust_root"].update(version=2**53),
        "trust_root.version must be an integer >= 1, got 9007199254740992",
    ),
    "version_at_the_largest_json_integer": (  # accepted as a number: the next check speaks
        lambda d: d["trust_root"].update(version=2**53 - 1),
        "trust_root.previous_sha256 must be 64 lower-case hex characters after version 1",
    ),
    "issued_at_not_a_calendar_date": (
        lambda d: d["trust_root"].update(issued_at="2026-02-30T17:00:00Z"),
        "trust_root.issued_at is not a valid date and time: '2026-02-30T17:00:00Z'",
    ),
    "fonds_log_id_not_text": (
        lambda d: d["trust_root"]["fonds"][0].update(log_id=123),
        "trust_root.fonds[0].log_id must be 64 lower-case hex characters",
    ),
    "fonds_log_id_of_another_fonds": (
        lambda d: d["trust_root"]["fonds"][0].update(log_id=log_id_for_fonds("Y2").hex()),
        "trust_root.fonds[0].log_id is not the log id of fonds 'Z001'",
    ),
    "signatures_not_list": (
        lambda d: d.update(signatures=5),
        "signatures must be a list",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_MESSAGES))
def test_each_malformed_field_is_named_word_for_word(kit: TrustKit, name: str) -> None:
    change, message = MALFORMED_MESSAGES[name]
    doc = kit.document()
    change(doc)
    with pytest.raises(TrustRootError) as info:
        load_trust_root(doc)
    assert (info.value.reason_code, info.value.message) == ("trust_root_malformed", message)


def test_a_broken_officer_signature_says_whose_it_is(kit: TrustKit) -> None:
    doc = kit.document()
    sig = doc["signatures"][3]
    sig["signature"] = sig["signature"][:-2] + "05"  # no such recovery id
    with pytest.raises(TrustRootError) as info:
        load_trust_root(doc)
    assert (info.value.reason_code, info.value.message) == (
        "trust_root_bad_signature",
        f"signatures[3]: officer signature of {sig['address']} is invalid: recovery id must be 0 or 1, got 5",
    )


@pytest.mark.parametrize("value", [float("nan"), 2**53], ids=["nan", "integer_beyond_2_53"])
def test_a_value_without_a_canonical_form_is_refused_word_for_word(value: Any) -> None:
    try:
        rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        expected = f"trust root has no canonical form: {exc}"
    for make in (trust_root_sha256, canonical_document_bytes):
        with pytest.raises(TrustRootError) as info:
            make({"x": value})
        assert (info.value.reason_code, info.value.message) == ("trust_root_malformed", expected)


def test_key_validity_reads_other_zones_and_naive_times_as_utc(kit: TrustKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is valid from 2026-01-01T00:00:00Z. An aware time in Beijing is converted; a naive time is UTC
    whatever the machine's own zone (here set to UTC+8)."""
    import time

    tr = load_trust_root(kit.document())
    key = tr.verifier_keys[0].public_key
    beijing = timezone(timedelta(hours=8))
    assert not tr.key_valid_at(key, datetime(2026, 1, 1, 7, 59, 59, tzinfo=beijing))
    assert tr.key_valid_at(key, datetime(2026, 1, 1, 8, 0, tzinfo=beijing))
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    try:
        assert tr.key_valid_at(key, datetime(2026, 1, 1, 0, 0))
        assert not tr.key_valid_at(key, datetime(2025, 12, 31, 23, 59, 59))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_officer_signature_entry_takes_the_signature_with_or_without_0x() -> None:
    address = "0x" + "AB" * 20
    for given in ("CD" * 65, "0x" + "cd" * 65, "0X" + "CD" * 65):
        assert officer_signature("auditor", address, given) == {
            "kind": "officer", "role": "auditor", "address": "0x" + "ab" * 20, "signature": "0x" + "cd" * 65,
        }  # fmt: skip
