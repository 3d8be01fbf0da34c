"""verifier.bundle: the one typed proof bundle model (parse and serialise the unchanged wire form)."""

from __future__ import annotations

import copy

import pytest

from tests.helpers.bundles import build
from verifier.bundle import BUNDLE_VERSION, Anchor, ProofBundle
from verifier.errors import BundleError


def test_round_trip_keeps_the_wire_form() -> None:
    wire, _ = build()
    parsed = ProofBundle.from_json(copy.deepcopy(wire))
    assert parsed.to_json() == wire
    assert parsed.leaf_index == 3 and parsed.tree_size == 7
    assert isinstance(parsed.anchor, Anchor) and parsed.anchor.chain_id == 1337
    assert all(isinstance(h, bytes) and len(h) == 32 for h in parsed.inclusion_path)
    assert BUNDLE_VERSION == wire["v"] == 1


def test_round_trip_without_anchor() -> None:
    wire, _ = build()
    wire["anchor"] = None
    assert ProofBundle.from_json(wire).to_json() == wire


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b.update(v=True), "bundle_malformed"),
        (lambda b: b.pop("root"), "bundle_malformed"),
        (lambda b: b["anchor"].update(block_number=-1), "bundle_malformed"),
        (lambda b: b["record"].pop("nonce"), "record_malformed"),
    ],
)
def test_from_json_reason_codes(mutate, code: str) -> None:  # type: ignore[no-untyped-def]
    wire, _ = build()
    mutate(wire)
    with pytest.raises(BundleError) as info:
        ProofBundle.from_json(wire)
    assert info.value.reason_code == code


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["anchor"].update(contract="nope"), "bundle.anchor.contract is not a 0x address: 'nope'"),
        (lambda b: b["anchor"].update(tx_hash="0x12"), "bundle.anchor.tx_hash is not a 0x transaction hash: '0x12'"),
        (lambda b: b.update(anchor=[]), "bundle.anchor must be an object or null"),
        (lambda b: [b["anchor"].pop(k) for k in ("tx_hash", "chain_id")],
         "bundle.anchor is missing field(s): chain_id, tx_hash"),
        (lambda b: b["anchor"].update(chain_id="1"),
         "bundle.anchor.chain_id must be an unsigned 64-bit integer, got '1'"),
        (lambda b: b["anchor"].update(block_number=-1),
         "bundle.anchor.block_number must be an unsigned 64-bit integer, got -1"),
    ],
)  # fmt: skip
def test_from_json_message_says_what_is_wrong(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    wire, _ = build()
    mutate(wire)
    with pytest.raises(BundleError) as info:
        ProofBundle.from_json(wire)
    assert info.value.reason_code == "bundle_malformed"
    assert info.value.message == str(info.value) == message


def test_anchor_bundles_uses_the_model() -> None:
    import anchor.bundles

    assert not hasattr(anchor.bundles, "BUNDLE_VERSION")
    assert anchor.bundles.ProofBundle is ProofBundle


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (lambda b: [1], "bundle_malformed", "bundle must be a JSON object, got list"),
        (lambda b: b.update(v=2), "bundle_malformed", "bundle.v must be 1, got 2"),
        (lambda b: [b.pop(k) for k in ("root", "leaf_hash")], "bundle_malformed",
         "bundle is missing field(s): leaf_hash, root"),
        (lambda b: b["record"].pop("nonce"), "record_malformed", "record is missing field(s): nonce"),
        (lambda b: b.update(tree_size=0), "bundle_malformed", "bundle.tree_size must be at least 1"),
        (lambda b: b.update(inclusion_path="ab"), "bundle_malformed",
         "bundle.inclusion_path must be a list of hex hashes"),
        (lambda b: b["inclusion_path"].__setitem__(1, "zz"), "bundle_malformed",
         "bundle.inclusion_path[1] must be 64 lower-case hex characters, got 'zz'"),
        (lambda b: b.update(log_id="00" * 32), "bundle_malformed", "bundle.log_id is not the log of fonds 'Z001'"),
        (lambda b: b.update(log_id="xy"), "bundle_malformed",
         "bundle.log_id must be 64 lower-case hex characters, got 'xy'"),
        (lambda b: b.update(leaf_hash="12"), "bundle_malformed",
         "bundle.leaf_hash must be 64 lower-case hex characters, got '12'"),
        (lambda b: b.update(root=None), "bundle_malformed",
         "bundle.root must be 64 lower-case hex characters, got None"),
        (lambda b: b.update(leaf_index=True), "bundle_malformed",
         "bundle.leaf_index must be an unsigned 64-bit integer, got True"),
    ],
)  # fmt: skip
def test_every_refusal_names_the_field(mutate, code: str, message: str) -> None:  # type: ignore[no-untyped-def]
    wire, _ = build()
    replaced = mutate(wire)
    with pytest.raises(BundleError) as info:
        ProofBundle.from_json(replaced if replaced == [1] else wire)
    assert (info.value.reason_code, info.value.message) == (code, message)


def test_unsigned_64_bit_bounds() -> None:
    from verifier.bundle import _uint64

    assert _uint64({"n": 2**64 - 1}, "n") == 2**64 - 1 and _uint64({"n": 0}, "n") == 0
    with pytest.raises(BundleError, match=r"^bundle\.n must be an unsigned 64-bit integer, got 18446744073709551616$"):
        _uint64({"n": 2**64}, "n")
