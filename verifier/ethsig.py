"""Ethereum signatures with the standard library alone: Keccak-256 and secp256k1 signer recovery.

The trust root is signed by the officers' chain keys (EIP-191 personal messages). hashlib has no
Keccak (its sha3_256 is the padded FIPS variant) and the verifier may not depend on eth-account, so
both are written here, plainly; tests compare them with eth-account.
"""

from __future__ import annotations

import re

from verifier.errors import VerifierError

__all__ = [
    "SignatureError",
    "keccak256",
    "personal_message_hash",
    "public_key_to_address",
    "recover_personal_signer",
    "recover_public_key",
]


class SignatureError(VerifierError):
    """An Ethereum signature is malformed or recovers no public key."""


# -- Keccak-256 (the original Keccak padding 0x01, not SHA3's 0x06) ---------------------------------

_MASK64 = (1 << 64) - 1
_RATE = 136  # bytes: 1600 - 2 * 256 bits
_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# Rotation offsets r[x][y], state index x + 5 * y.
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)


def _rol(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK64  # (shift 0: value >> 64 is 0)


def _keccak_f(a: list[int]) -> None:
    for rc in _ROUND_CONSTANTS:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rol(a[x + 5 * y], _ROTATIONS[x][y])
        for y in range(0, 25, 5):
            row = b[y : y + 5]
            for x in range(5):
                a[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it."""
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    state = [0] * 25
    for off in range(0, len(padded), _RATE):
        block = padded[off : off + _RATE]
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i].to_bytes(8, "little") for i in range(4))


# -- secp256k1 -------------------------------------------------------------------------------------

_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
_Point = tuple[int, int] | None  # None is the point at infinity


def _add(p: _Point, q: _Point) -> _Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0]:
        if (p[1] + q[1]) % _P == 0:
            return None
        lam = 3 * p[0] * p[0] * pow(2 * p[1], -1, _P) % _P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P) % _P
    x = (lam * lam - p[0] - q[0]) % _P
    return x, (lam * (p[0] - x) - p[1]) % _P


def _mul(k: int, p: _Point) -> _Point:
    result: _Point = None
    while k:
        if k & 1:
            result = _add(result, p)
        p = _add(p, p)
        k >>= 1
    return result


def recover_public_key(msg_hash: bytes, r: int, s: int, recovery_id: int) -> tuple[int, int]:
    """The public key Q with ECDSA signature (r, s) over msg_hash (SEC 1 4.1.6); Ethereum rules:
    low s only (EIP-2), recovery id 0 or 1 (R's x below the group order)."""
    if len(msg_hash) != 32:
        raise SignatureError("message hash must be 32 bytes")
    if not (1 <= r < _N and 1 <= s < _N):
        raise SignatureError("signature r or s out of range")
    if s > _N // 2:
        raise SignatureError("signature s is in the upper half (malleated signature)")
    if recovery_id not in (0, 1):
        raise SignatureError(f"recovery id must be 0 or 1, got {recovery_id}")
    x = r
    y_sq = (pow(x, 3, _P) + 7) % _P
    y = pow(y_sq, (_P + 1) // 4, _P)
    if y * y % _P != y_sq:
        raise SignatureError("signature r is not the x of a curve point")
    if y & 1 != recovery_id:
        y = _P - y
    big_r = (x, y)
    e = int.from_bytes(msg_hash, "big")
    r_inv = pow(r, -1, _N)
    q = _add(_mul(s * r_inv % _N, big_r), _mul((-e * r_inv) % _N, _G))
    if q is None:
        raise SignatureError("signature recovers the point at infinity")
    return q


def public_key_to_address(q: tuple[int, int]) -> str:
    """Lower-case 0x address: the last 20 bytes of keccak256(x || y)."""
    return "0x" + keccak256(q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big"))[-20:].hex()


def personal_message_hash(message: bytes) -> bytes:
    """EIP-191 version 0x45 ("personal_sign") hash of message."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + bytes(message))


_SIG_RE = re.compile(r"(0x)?[0-9a-fA-F]{130}")


def recover_personal_signer(message: bytes, signature_hex: str) -> str:
    """Address (lower case, 0x) that signed `message` as an EIP-191 personal message.

    `signature_hex` is 65 bytes r|s|v in hex, v 27/28 (0/1 accepted too). SignatureError if it is
    malformed; a valid signature by another key simply recovers another address.
    """
    if not isinstance(signature_hex, str) or not _SIG_RE.fullmatch(signature_hex):
        raise SignatureError("signature must be 65 bytes (130 hex characters) r|s|v")
    raw = bytes.fromhex(signature_hex.removeprefix("0x"))
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v in (27, 28):
        v -= 27
    return public_key_to_address(recover_public_key(personal_message_hash(bytes(message)), r, s, v))
