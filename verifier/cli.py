"""The auditor's command line, standard library only: `python -m verifier verify|verify-certificate|trust-show`.

Exit codes: 0 authentic / valid, 1 not authentic / rejected, 2 undecided or usage (no trust root,
chain unreachable, unreadable input). The node's `archive-ledger` typer commands call the `run_*`
functions, so both print the same and exit the same.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verifier.certificate import verify_certificate
from verifier.chain import JsonRpcChain
from verifier.errors import CertificateError, TrustRootError, VerifierError
from verifier.records import format_time
from verifier.trustroot import TrustRoot, check_trust_update, format_trust_root, load_trust_root_file
from verifier.verify import EXIT_CODES, VerificationResult, verify_bundle

TRUST_ENV = "ARCHIVE_LEDGER_TRUST"
RPC_ENV = "ARCHIVE_LEDGER_RPC_URL"
MAX_JSON_BYTES = 64 << 20  # a proof bundle or certificate is small; refuse to read a huge file whole

__all__ = ["RPC_ENV", "TRUST_ENV", "main", "run_trust_show", "run_verify", "run_verify_certificate"]


class _Usage(Exception):
    """Bad input: print `reason: message` to stderr, exit 2."""

    def __init__(self, message: str, reason: str = "usage") -> None:
        super().__init__(message)
        self.reason = reason


def run_verify(
    file: str | os.PathLike[str] | None,
    *,
    proof: str | os.PathLike[str],
    trust: str | os.PathLike[str] | None = None,
    rpc: Sequence[str] = (),
    sha256: str | None = None,
    confirmations: int | None = None,
    as_json: bool = False,
) -> int:
    """Verify FILE (or --sha256) against the proof bundle, trusting only the trust root; print; exit code."""
    try:
        tr = _load_trust(trust)
        bundle = _read_json(proof, "proof bundle")
        if (file is None) == (sha256 is None):
            raise _Usage("give either the FILE to check or --sha256 (one of them)")
        if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise _Usage("--sha256 takes 64 hex characters")
        if file is not None and not Path(file).is_file():
            raise _Usage(f"{file} is not a readable file")
        if confirmations is not None and confirmations < 1:
            raise _Usage("--confirmations must be at least 1")
        urls = list(rpc) or ([os.environ[RPC_ENV]] if os.environ.get(RPC_ENV) else list(tr.rpc_endpoints))
        try:
            chains = [JsonRpcChain(url) for url in urls]
        except VerifierError as exc:
            raise _Usage(str(exc)) from exc
        try:
            stream = open(file, "rb") if file is not None else None  # noqa: SIM115 - closed below
        except OSError as exc:
            raise _Usage(f"cannot read {file}: {exc}") from exc
        try:
            result = verify_bundle(
                bundle,
                content=stream,
                content_sha256=sha256,  # either case: verify_bundle compares in lower case
                trust=tr,
                chains=chains,
                confirmations=confirmations,
            )
        finally:
            if stream is not None:
                stream.close()
    except _Usage as exc:
        return _usage(exc, as_json)
    if as_json:
        _emit({**result.to_dict(), "trust_root": _trust_summary(tr), "endpoints": urls})
    else:
        _print_result(result, tr, urls)
    return result.exit_code


def run_verify_certificate(
    cert: str | os.PathLike[str], *, trust: str | os.PathLike[str] | None = None, as_json: bool = False
) -> int:
    """Check a certificate against the trust root. 0: valid and authentic; 1: rejected or not authentic;
    2: no trust root, unreadable, or valid but the verification it records was indeterminate."""
    try:
        tr = _load_trust(trust)
        doc = _read_json(cert, "certificate")
    except _Usage as exc:
        return _usage(exc, as_json)
    try:
        payload = verify_certificate(doc, tr)
    except CertificateError as exc:
        if as_json:
            _emit({"valid": False, "reason_code": exc.reason_code, "message": exc.message, "exit_code": 1})
        else:
            print(f"REJECTED: {exc.reason_code}: {exc.message}")
        print(f"{exc.reason_code}: {exc.message}", file=sys.stderr)
        return 1
    outcome = payload.get("outcome")
    code = EXIT_CODES.get(outcome, 1) if isinstance(outcome, str) else 1
    if as_json:
        _emit(
            {
                "valid": True,
                "exit_code": code,
                "public_key": doc["public_key"],
                "trust_root": _trust_summary(tr),
                "payload": payload,
            }
        )
        return code
    print(
        f"certificate valid: signed by {doc['public_key']}, a verifier key of trust root version {tr.version} "
        f"valid at the issue time {payload.get('issued_at')}"
    )
    print(f"issued by {payload.get('issuer')!r} under trust root {payload.get('trust_root_sha256')}")
    if payload.get("trust_root_sha256") != tr.sha256:
        print(f"  (the trust root given is {tr.sha256}, version {tr.version}: an earlier or later version)")
    record = (payload.get("bundle") or {}).get("record") or {}
    if isinstance(record, dict) and record:
        print(
            f"record: item {record.get('item_id')} of fonds {record.get('fonds')}, "
            f"content_sha256 {record.get('content_sha256')}"
        )
    permit = payload.get("permit")
    if isinstance(permit, dict):
        print(
            f"permit {permit.get('permit_id')}: approver {permit.get('approver')}, tx {permit.get('tx_hash')} "
            f"(block {permit.get('block_number')}, chain {permit.get('chain_id')}, contract {permit.get('contract')})"
        )
        print(
            f"  valid {permit.get('not_before_iso')} .. {permit.get('expires_at_iso')}; "
            f"grantee {permit.get('grantee')}; loan {permit.get('loan_id')}"
        )
    reason = payload.get("reason_code")
    print(f"outcome: {outcome}" + (f" ({reason}: {payload.get('message')})" if reason else ""))
    return code


def run_trust_show(
    path: str | os.PathLike[str], *, pinned: str | os.PathLike[str] | None = None, as_json: bool = False
) -> int:
    """Print a trust root readably; with `pinned`, also check it as an update of the pinned one.
    0: valid; 1: rejected (bad signatures, rollback, not signed by the pinned officers, other chain);
    2: a file cannot be read."""
    try:
        for p in (path, pinned):
            if p is not None and not Path(p).is_file():
                raise _Usage(f"cannot read trust root {p}: no such file", "trust_root_malformed")
    except _Usage as exc:
        return _usage(exc, as_json)
    try:
        tr = load_trust_root_file(path)
        old = load_trust_root_file(pinned) if pinned is not None else None
        if old is not None and old.sha256 != tr.sha256:
            check_trust_update(old, tr.document)
    except TrustRootError as exc:
        if as_json:
            _emit({"valid": False, "reason_code": exc.reason_code, "message": exc.message, "exit_code": 1})
        else:
            print(f"REJECTED: {exc.reason_code}: {exc.message}")
        print(f"{exc.reason_code}: {exc.message}", file=sys.stderr)
        return 1
    if as_json:
        out: dict[str, Any] = {
            "valid": True,
            "exit_code": 0,
            **_trust_summary(tr),
            "officer_signers": list(tr.officer_signers),
            "trust_root": tr.document["trust_root"],
        }
        if old is not None:
            out["pinned"] = _trust_summary(old)
        _emit(out)
        return 0
    print(format_trust_root(tr))
    if old is not None:
        if old.sha256 == tr.sha256:
            print(f"same document as the pinned trust root (version {old.version})")
        else:
            print(
                f"valid update of the pinned version {old.version} ({old.sha256}): signed by at least "
                f"{old.threshold} of its officers, same chain"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verifier",
        description="Check archive-ledger proof bundles and certificates against a pinned trust root.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="verify a file (or its SHA-256) against a proof bundle")
    p.add_argument("file", nargs="?", help="the file to check (omit with --sha256)")
    p.add_argument("--proof", required=True, help="proof bundle JSON")
    p.add_argument("--trust", help=f"trust root JSON (default: ${TRUST_ENV})")
    p.add_argument(
        "--rpc",
        action="append",
        default=[],
        help=f"chain JSON-RPC URL, repeatable (default: ${RPC_ENV}, else the trust root's rpc_endpoints)",
    )
    p.add_argument("--sha256", help="check against this digest instead of a file")
    p.add_argument("--confirmations", type=int, help="blocks required (at least the trust root's)")
    p.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")

    p = sub.add_parser("verify-certificate", help="check a verification certificate")
    p.add_argument("cert", help="certificate JSON")
    p.add_argument("--trust", help=f"trust root JSON (default: ${TRUST_ENV})")
    p.add_argument("--json", action="store_true", dest="as_json")

    p = sub.add_parser("trust-show", help="print a trust root (and check it as an update of a pinned one)")
    p.add_argument("trust_root", help="trust root JSON")
    p.add_argument("--pinned", help="the trust root pinned earlier: check TRUST_ROOT is a valid update of it")
    p.add_argument("--json", action="store_true", dest="as_json")

    args = parser.parse_args(argv)
    if args.command == "verify":
        return run_verify(
            args.file,
            proof=args.proof,
            trust=args.trust,
            rpc=args.rpc,
            sha256=args.sha256,
            confirmations=args.confirmations,
            as_json=args.as_json,
        )
    if args.command == "verify-certificate":
        return run_verify_certificate(args.cert, trust=args.trust, as_json=args.as_json)
    return run_trust_show(args.trust_root, pinned=args.pinned, as_json=args.as_json)


# -- helpers ----------------------------------------------------------------------------------------------------


def _load_trust(trust: str | os.PathLike[str] | None) -> TrustRoot:
    path = trust if trust is not None else os.environ.get(TRUST_ENV) or None
    if path is None:
        raise _Usage(
            f"no trust root given: pass --trust trust.json (or set {TRUST_ENV}); get it once from the archive "
            "(`archive-ledger trust export` or GET /trust) and pin it",
            "no_trust_root",
        )
    try:
        return load_trust_root_file(path)
    except TrustRootError as exc:
        raise _Usage(f"trust root {path} rejected: {exc.message}", exc.reason_code) from exc


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise _Usage(f"cannot read {what} {path}: {exc}") from exc
    if len(raw) > MAX_JSON_BYTES:
        raise _Usage(f"{what} {path} is larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _Usage(f"{what} {path} is not JSON: {exc}") from exc


def _usage(exc: _Usage, as_json: bool) -> int:
    if as_json:
        _emit({"outcome": "indeterminate", "exit_code": 2, "reason_code": exc.reason, "message": str(exc)})
    print(f"{exc.reason}: {exc}", file=sys.stderr)
    return 2


def _trust_summary(tr: TrustRoot) -> dict[str, Any]:
    return {
        "version": tr.version,
        "sha256": tr.sha256,
        "issued_at": format_time(tr.issued_at),
        "chain_id": tr.chain_id,
        "archive": tr.archive_name,
    }


def _print_result(result: VerificationResult, tr: TrustRoot, urls: list[str]) -> None:
    print(
        f"trust root: version {tr.version} of {tr.archive_name!r} ({tr.sha256}), chain {tr.chain_id}, "
        f"ArchiveAnchor {tr.anchor_address}"
    )
    print("chain endpoints: " + (", ".join(urls) if urls else "none (offline check)"))
    for step in result.steps:
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[step.ok]
        code = f"{step.reason_code}: " if step.reason_code else ""
        print(f"[{mark}] {step.name}: {code}{step.message}")
    if result.exit_code:
        print(f"{result.outcome.upper()}: {result.reason_code}: {result.message}")
    else:
        print(result.outcome.upper())


def _emit(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))
