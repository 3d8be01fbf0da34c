"""verifier.ethsig against eth-account / eth-utils: Keccak-256 and EIP-191 signer recovery."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.ethsig import SignatureError, keccak256, personal_message_hash, recover_personal_signer

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MESSAGE = b"archive-ledger trust root v1 " + b"ab" * 32


def _sign(account, message: bytes) -> str:  # type: ignore[no-untyped-def]
    return "0x" + bytes(account.sign_message(encode_defunct(primitive=message)).signature).hex()


@pytest.mark.parametrize("length", [0, 1, 3, 135, 136, 137, 271, 272, 1000])
def test_keccak256_matches_eth_utils(length: int) -> None:
    data = bytes(i % 251 for i in range(length))
    assert keccak256(data) == keccak(data)


def test_keccak256_known_vector() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_personal_message_hash_matches_eip191() -> None:
    from eth_account.messages import _hash_eip191_message

    assert personal_message_hash(MESSAGE) == _hash_eip191_message(encode_defunct(primitive=MESSAGE))


def test_recovers_the_signer() -> None:
    account = Account.create()
    assert recover_personal_signer(MESSAGE, _sign(account, MESSAGE)) == account.address.lower()


def test_signature_without_0x_and_with_v_0_1() -> None:
    account = Account.create()
    sig = bytearray(bytes.fromhex(_sign(account, MESSAGE)[2:]))
    assert recover_personal_signer(MESSAGE, sig.hex()) == account.address.lower()
    sig[64] -= 27
    assert recover_personal_signer(MESSAGE, sig.hex()) == account.address.lower()


def test_other_message_recovers_another_address() -> None:
    account = Account.create()
    assert recover_personal_signer(MESSAGE + b"x", _sign(account, MESSAGE)) != account.address.lower()


def test_high_s_malleated_signature_is_refused() -> None:
    account = Account.create()
    raw = bytes.fromhex(_sign(account, MESSAGE)[2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    flipped = r + (N - s).to_bytes(32, "big") + bytes([55 - v])  # the same signature, malleated
    with pytest.raises(SignatureError, match="upper half"):
        recover_personal_signer(MESSAGE, flipped.hex())


@pytest.mark.parametrize("v", [0x1D, 0x1E, 2, 0xFF])
def test_bad_v_is_refused(v: int) -> None:
    raw = bytearray(bytes.fromhex(_sign(Account.create(), MESSAGE)[2:]))
    raw[64] = v
    with pytest.raises(SignatureError, match="recovery id"):
        recover_personal_signer(MESSAGE, raw.hex())


@pytest.mark.parametrize("cut", [1, -1])
def test_wrong_length_is_refused(cut: int) -> None:
    sig = _sign(Account.create(), MESSAGE)
    bad = sig[: len(sig) - 2] if cut == 1 else sig + "00"
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_personal_signer(MESSAGE, bad)


@pytest.mark.parametrize("bad", ["0x" + "zz" * 65, 12345, None])
def test_non_hex_is_refused(bad: object) -> None:
    with pytest.raises(SignatureError):
        recover_personal_signer(MESSAGE, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["r0", "s0", "rN", "sN"])
def test_r_s_out_of_range_are_refused(field: str) -> None:
    raw = bytearray(bytes.fromhex(_sign(Account.create(), MESSAGE)[2:]))
    value = (0 if field.endswith("0") else N).to_bytes(32, "big")
    if field.startswith("r"):
        raw[:32] = value
    else:
        raw[32:64] = value
    with pytest.raises(SignatureError, match="out of range"):
        recover_personal_signer(MESSAGE, raw.hex())


def test_r_not_on_curve_is_refused() -> None:
    raw = bytearray(bytes.fromhex(_sign(Account.create(), MESSAGE)[2:]))
    # x = 5: 5**3 + 7 = 132 is not a square mod p (checked here so the test cannot pass vacuously)
    p = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
    assert pow(132, (p - 1) // 2, p) != 1
    raw[:32] = (5).to_bytes(32, "big")
    with pytest.raises(SignatureError) as info:
        recover_personal_signer(MESSAGE, raw.hex())
    assert str(info.value) == "signature r is not the x of a curve point"


@settings(max_examples=8, deadline=None)
@given(key=st.integers(min_value=1, max_value=N - 1), message=st.binary(max_size=200))
def test_random_keys_and_messages(key: int, message: bytes) -> None:
    account = Account.from_key(key.to_bytes(32, "big"))
    assert recover_personal_signer(message, _sign(account, message)) == account.address.lower()


# -- the bounds of each check, with the message it gives ----------------------------------------------------


def _parts(account=None) -> tuple[bytes, int, int, int]:  # type: ignore[no-untyped-def]
    raw = bytes.fromhex(_sign(account or Account.create(), MESSAGE)[2:])
    return raw, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


def _with(r: int, s: int, v: int) -> str:
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


def test_s_at_half_the_order_is_low_one_above_is_malleated() -> None:
    _raw, r, _s, v = _parts()
    other = recover_personal_signer(MESSAGE, _with(r, N // 2, v))  # a valid low s: recovers some key
    assert other.startswith("0x") and len(other) == 42
    with pytest.raises(SignatureError) as info:
        recover_personal_signer(MESSAGE, _with(r, N // 2 + 1, v))
    assert str(info.value) == "signature s is in the upper half (malleated signature)"


def test_r_and_s_of_one_are_in_range() -> None:
    _raw, r, s, v = _parts()
    for sig in (_with(r, 1, v), _with(1, s, v)):
        try:
            recover_personal_signer(MESSAGE, sig)
        except SignatureError as exc:  # r = 1 is not on the curve: any error but "out of range"
            assert str(exc) == "signature r is not the x of a curve point"


def test_messages_of_the_other_refusals() -> None:
    from verifier.ethsig import recover_public_key

    _raw, r, s, v = _parts()
    with pytest.raises(SignatureError) as info:
        recover_personal_signer(MESSAGE, _with(r, s, 29))
    assert str(info.value) == "recovery id must be 0 or 1, got 29"  # only 27 and 28 are shifted to 0 and 1
    with pytest.raises(SignatureError) as info:
        recover_personal_signer(MESSAGE, _with(0, s, v))
    assert str(info.value) == "signature r or s out of range"
    with pytest.raises(SignatureError) as info:
        recover_personal_signer(MESSAGE, "0x" + "ab" * 64)
    assert str(info.value) == "signature must be 65 bytes (130 hex characters) r|s|v"
    for digest in (b"\0" * 31, b"\0" * 33):
        with pytest.raises(SignatureError) as info:
            recover_public_key(digest, r, s, 0)
        assert str(info.value) == "message hash must be 32 bytes"


def test_upper_case_hex_and_v_of_either_form_recover_the_signer() -> None:
    account = Account.create()
    raw, r, s, v = _parts(account)
    expected = account.address.lower()
    assert recover_personal_signer(MESSAGE, "0x" + raw.hex().upper()) == expected
    assert recover_personal_signer(MESSAGE, _with(r, s, v - 27)) == expected
    assert recover_personal_signer(MESSAGE, _with(r, s, (v - 27) ^ 1)) != expected  # the other recovery id


def test_a_signature_that_recovers_the_point_at_infinity_is_refused() -> None:
    """Q = r⁻¹(sR - eG) is the point at infinity when sR = eG: with R = G (r = G's x, whose y is even: recovery
    id 0), s = 1 and e = 1. The last addition is then G + (-G), which must give infinity, not a doubling."""
    from verifier.ethsig import recover_public_key

    gx = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
    with pytest.raises(SignatureError) as info:
        recover_public_key((1).to_bytes(32, "big"), gx, 1, 0)
    assert str(info.value) == "signature recovers the point at infinity"
