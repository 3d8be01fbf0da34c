"""verifier.records: canonical bytes, leaf hashes, log ids, metadata digests, validation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from verifier import merkle, records
from verifier.errors import RecordError, VerifierError

T = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
H64 = "ab" * 32


def good() -> dict:
    return {
        "v": 1,
        "type": "item.ingested",
        "fonds": "Z001",
        "item_id": "0123456789abcdef0123456789abcdef",
        "content_sha256": H64,
        "size": 12345,
        "metadata_sha256": "cd" * 32,
        "time": "2026-11-25T08:00:00Z",
        "nonce": "00112233445566778899aabbccddeeff",
    }


def test_canonical_bytes_sorts_keys_and_drops_whitespace() -> None:
    assert records.canonical_bytes({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    assert records.canonical_bytes(good()) == records.canonical_bytes(dict(reversed(good().items())))


def test_canonical_bytes_rejects_non_json() -> None:
    with pytest.raises(RecordError):
        records.canonical_bytes({"a": b"bytes"})
    with pytest.raises(RecordError):
        records.canonical_bytes({"a": float("nan")})


def test_record_leaf_hash_is_domain_separated() -> None:
    r = good()
    raw = records.canonical_bytes(r)
    assert records.record_leaf_hash(r) == hashlib.sha256(b"\x00" + raw).digest()
    assert records.record_leaf_hash(r) == merkle.leaf_hash(raw)
    assert records.record_leaf_hash(r) != hashlib.sha256(raw).digest()


def test_log_id_for_fonds() -> None:
    expected = hashlib.sha256(b"archive-ledger/log/v1/Z001").digest()
    assert records.log_id_for_fonds("Z001") == expected
    assert len(expected) == 32
    assert records.log_id_for_fonds("全宗1") == hashlib.sha256("archive-ledger/log/v1/全宗1".encode()).digest()
    with pytest.raises(RecordError):
        records.log_id_for_fonds("")


def test_metadata_digest_normalises_nfc_everywhere() -> None:
    composed = {"titre": "Café", "tags": ["é", {"clé": "déjà"}], "n": 3}
    decomposed = {"titre": "Cafe\u0301", "tags": ["e\u0301", {"cle\u0301": "de\u0301ja\u0300"}], "n": 3}
    assert composed != decomposed
    assert records.metadata_digest(composed) == records.metadata_digest(decomposed)
    expected = hashlib.sha256(records.canonical_bytes(composed)).hexdigest()
    assert records.metadata_digest(decomposed) == expected
    assert records.metadata_digest({}) == hashlib.sha256(b"{}").hexdigest()


def test_metadata_digest_rejects_colliding_keys_and_non_objects() -> None:
    with pytest.raises(RecordError, match="collide"):
        records.metadata_digest({"é": 1, "e\u0301": 2})
    with pytest.raises(RecordError, match="metadata must be a JSON object, got list"):
        records.metadata_digest(["not", "an", "object"])  # type: ignore[arg-type]


def test_validate_accepts_good_record() -> None:
    records.validate_record(good())


HEX64 = "64 lower-case hex characters, got"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("nonce"), "record is missing field(s): nonce"),
        (lambda r: (r.pop("nonce"), r.pop("size")), "record is missing field(s): size, nonce"),
        (lambda r: r.update(extra=1), "record has unexpected field(s): extra"),
        (lambda r: r.update(zeta=1, alpha=2), "record has unexpected field(s): alpha, zeta"),
        (lambda r: r.update(v=2), "record.v must be 1, got 2"),
        (lambda r: r.update(v=True), "record.v must be 1, got True"),
        (lambda r: r.update(type=""), "record.type must be a non-empty string, got ''"),
        (lambda r: r.update(type="Item Ingested"), "record.type must be a dotted lower-case name, got 'Item Ingested'"),
        (lambda r: r.update(fonds=7), "record.fonds must be a non-empty string, got 7"),
        (lambda r: r.update(item_id="xyz"), "record.item_id must be 32 lower-case hex characters, got 'xyz'"),
        (lambda r: r.update(content_sha256=H64.upper()), f"record.content_sha256 must be {HEX64} {H64.upper()!r}"),
        (lambda r: r.update(content_sha256=H64[:-1]), f"record.content_sha256 must be {HEX64} {H64[:-1]!r}"),
        (lambda r: r.update(content_sha256="zz" * 32), f"record.content_sha256 must be {HEX64} {'zz' * 32!r}"),
        (lambda r: r.update(metadata_sha256=None), "record.metadata_sha256 must be a hex string, got NoneType"),
        (lambda r: r.update(nonce="00" * 15), f"record.nonce must be 32 lower-case hex characters, got {'00' * 15!r}"),
        (lambda r: r.update(checks_sha256="ab" * 31), f"record.checks_sha256 must be {HEX64} {'ab' * 31!r}"),
        (lambda r: r.update(checks_sha256=5), "record.checks_sha256 must be a hex string, got int"),
        (lambda r: r.update(size=-1), "record.size must be an integer in [0, 2**53 - 1], got -1"),
        (lambda r: r.update(size="12"), "record.size must be an integer in [0, 2**53 - 1], got '12'"),
        (lambda r: r.update(size=1.0), "record.size must be an integer in [0, 2**53 - 1], got 1.0"),
        (lambda r: r.update(size=2**53), "record.size must be an integer in [0, 2**53 - 1], got 9007199254740992"),
        (lambda r: r.update(time="2026-11-25 08:00:00"),
         "record.time must look like 2026-11-25T08:00:00Z, got '2026-11-25 08:00:00'"),
        (lambda r: r.update(time="2026-13-25T08:00:00Z"),
         "record.time is not a valid date and time: '2026-13-25T08:00:00Z'"),
        (lambda r: r.update(time="2026-11-25T08:00:00.5Z"),
         "record.time must look like 2026-11-25T08:00:00Z, got '2026-11-25T08:00:00.5Z'"),
    ],
)
def test_validate_rejects_malformed_word_for_word(change, message: str) -> None:  # type: ignore[no-untyped-def]
    r = good()
    change(r)
    with pytest.raises(RecordError) as info:
        records.validate_record(r)
    assert str(info.value) == message


def test_validate_accepts_the_largest_size_and_a_good_check_digest() -> None:
    r = good()
    r.update(size=2**53 - 1, checks_sha256=H64)
    records.validate_record(r)


@pytest.mark.parametrize(("bad", "kind"), [(None, "NoneType"), ([], "list"), ("record", "str"), (3, "int")])
def test_validate_rejects_non_objects(bad, kind: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RecordError) as info:
        records.validate_record(bad)
    assert str(info.value) == f"record must be a JSON object, got {kind}"


def test_new_record() -> None:
    r = records.new_record(
        "item.ingested",
        "Z001",
        "0123456789abcdef0123456789abcdef",
        H64,
        10,
        "cd" * 32,
        datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
        nonce=bytes(range(16)),
    )
    assert r["time"] == "2026-11-25T08:00:00Z"
    assert r["nonce"] == bytes(range(16)).hex()
    assert set(r) == set(records.RECORD_FIELDS)
    records.validate_record(r)
    json.loads(records.canonical_bytes(r))


def test_new_record_carries_the_check_report_digest_only_when_given() -> None:
    args = ("item.ingested", "Z001", "0" * 32, H64, 0, H64, T)
    assert "checks_sha256" not in records.new_record(*args)
    r = records.new_record(*args, checks_sha256="ef" * 32)
    assert r["checks_sha256"] == "ef" * 32
    records.validate_record(r)


def test_new_record_random_nonce() -> None:
    args = ("item.ingested", "Z001", "0" * 32, H64, 0, H64, T)
    a, b = records.new_record(*args), records.new_record(*args)
    assert a["nonce"] != b["nonce"]
    assert len(bytes.fromhex(a["nonce"])) == 16


def test_new_record_refuses_naive_time_and_bad_nonce() -> None:
    class NoOffset(tzinfo):  # an aware-looking time that does not know its offset
        def utcoffset(self, dt: datetime | None) -> None:
            return None

    for when in (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=NoOffset()), "2026-01-01T00:00:00Z"):
        with pytest.raises(RecordError) as info:
            records.new_record("item.ingested", "Z001", "0" * 32, H64, 0, H64, when)  # type: ignore[arg-type]
        assert str(info.value) == "time must be a timezone-aware datetime"
    for nonce in (b"short", "00" * 16, bytes(17)):  # too short, hex text instead of bytes, too long
        with pytest.raises(RecordError) as info:
            records.new_record("item.ingested", "Z001", "0" * 32, H64, 0, H64, T, nonce=nonce)  # type: ignore[arg-type]
        assert str(info.value) == "nonce must be 16 bytes"
    with pytest.raises(RecordError, match="content_sha256"):
        records.new_record("item.ingested", "Z001", "0" * 32, "nothex", 0, H64, T)


def test_record_error_is_a_verifier_error() -> None:
    assert issubclass(RecordError, VerifierError)


def test_log_id_refuses_an_empty_or_non_text_fonds_code() -> None:
    for code in ("", None, 7):
        with pytest.raises(RecordError) as info:
            records.log_id_for_fonds(code)  # type: ignore[arg-type]
        assert str(info.value) == f"fonds code must be a non-empty string, got {code!r}"


def test_record_times_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "CST-8")  # a server in China
    time.tzset()
    try:
        beijing = datetime(2026, 11, 25, 16, 0, tzinfo=timezone(timedelta(hours=8)))
        assert records.format_time(beijing) == "2026-11-25T08:00:00Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
