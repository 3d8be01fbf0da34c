"""Everything a running node holds, built once from Settings (no globals, nothing at import time)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nacl.signing import SigningKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.anchorer import AnchorBusy, Anchorer, AnchorReport
from anchor.chain import ChainClient
from anchor.db import make_engine, make_session_factory
from anchor.errors import ChainUnavailable, LedgerError
from anchor.keystore import load_account
from anchor.profiles import ChainProfile, load_profile
from node.core.blobstore import BlobStore, clean_dir
from node.core.errors import NotConfigured
from node.core.models import ApiKey
from node.core.settings import Settings, tighten_data_dir
from node.trust.service import load_node_trust_root
from verifier.certificate import issue_certificate, load_signing_key
from verifier.trustroot import TrustRoot
from verifier.verify import VerificationResult, verify_bundle

if TYPE_CHECKING:
    from node.audit.middleware import AnonymousFailures
    from node.filing.checks.engine import CheckConfig
    from node.filing.jobs import FilingJobs
    from node.filing.service import Filer, Hook
    from node.lending.service import Lending
    from node.preservation.service import Preserver
    from node.search.extraction import Extractor
    from node.search.ocr import Ocr
    from node.search.service import SearchService
    from node.users.login_guard import LoginGuard

logger = logging.getLogger(__name__)

ROLLBACK_ACTION = "anchor:rollback"  # audit action: the chain lost confirmed checkpoints of a log


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return "alk_" + secrets.token_urlsafe(32)


def add_api_key(sessions: sessionmaker[Session], name: str) -> str:
    key = new_api_key()
    with sessions() as s, s.begin():
        s.add(ApiKey(name=name, key_sha256=hash_api_key(key)))
    return key


@dataclass
class AnchorSchedule:
    """Backoff for the background job: a chain outage slows retries down instead of spinning."""

    base_s: float
    max_s: float = 600.0
    failures: int = 0
    next_try: float = 0.0
    last_error: str | None = None

    def due(self, now: float) -> bool:
        return now >= self.next_try

    def succeeded(self) -> None:
        self.failures, self.next_try, self.last_error = 0, 0.0, None

    def failed(self, now: float, error: str) -> None:
        self.failures += 1
        self.last_error = error
        self.next_try = now + min(self.max_s, self.base_s * 2 ** (self.failures - 1))


@dataclass
class NodeContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    reader: sessionmaker[Session]
    blobs: BlobStore
    profile: ChainProfile
    verifier_key: SigningKey
    chain_client: ChainClient | None = None
    trust_root: TrustRoot | None = None  # the newest <data>/trust version, read once at start (None: pre-issue-7 dir)
    schedule: AnchorSchedule = field(default_factory=lambda: AnchorSchedule(base_s=5.0))
    _anchorer: Anchorer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _services: dict[str, Any] = field(default_factory=dict)  # each service once (see _once)
    _services_lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def build(cls, settings: Settings, *, chain_client: ChainClient | None = None) -> NodeContext:
        engine = make_engine(settings.db_url)
        profile = load_profile(settings.chain_profile)
        if settings.rpc_url:
            profile = profile.replace(rpc_url=settings.rpc_url)
        tighten_data_dir(settings.data_dir)
        blobs = BlobStore(settings.blob_dir)
        blobs.clean_tmp()  # uploads and expanded packages a crash left behind
        clean_dir(settings.tmp_dir)
        verifier_key = load_signing_key(settings.verifier_key_path)
        trust_root = load_node_trust_root(settings)
        if trust_root is None:
            logger.warning("no trust root in %s/trust: run `archive-ledger trust issue` (POST /verify answers "
                           "no_trust_root until then)", settings.data_dir)  # fmt: skip
        elif not trust_root.key_valid_at(verifier_key.verify_key.encode().hex(), datetime.now(UTC)):
            logger.warning("the verifier key is not one the trust root lists as valid now: certificates will "
                           "not verify (issue a trust root with `archive-ledger trust issue`)")  # fmt: skip
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            reader=make_session_factory(engine, readonly=True),
            blobs=blobs,
            profile=profile,
            verifier_key=verifier_key,
            chain_client=chain_client,
            trust_root=trust_root,
            schedule=AnchorSchedule(base_s=min(settings.anchor_interval_s, 30.0)),
        )

    def api_key_valid(self, key: str) -> bool:
        with self.reader() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_sha256 == hash_api_key(key)))
            return row is not None and row.revoked_at is None

    def chain(self) -> ChainClient:
        """The chain connection, made on first use so a chain outage never stops ingest."""
        with self._lock:
            if self.chain_client is None:
                self.chain_client = ChainClient(self.profile)
            return self.chain_client

    def anchorer(self) -> Anchorer:
        with self._lock:
            if self._anchorer is None:
                if not self.settings.contract_address:
                    raise NotConfigured("no ArchiveAnchor contract is configured: run `archive-ledger init`")
                client = self.chain_client or ChainClient(self.profile)
                self.chain_client = client
                account = load_account(
                    self.settings.keystore_path,
                    self.settings.keystore_password_file,
                    password_env=self.settings.keystore_password_env,
                )
                self._anchorer = Anchorer(
                    self.sessions,
                    client,
                    account,
                    self.settings.contract_address,
                    confirmations=self.profile.confirmations,
                    wait_timeout_s=self.settings.anchor_wait_timeout_s,
                    on_rollback=self.record_rollback,
                )
            return self._anchorer

    # -- the slices' services, each built once on first use ----------------------------------------------
    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        with self._services_lock:
            if name not in self._services:
                self._services[name] = build()
            return self._services[name]

    def lending(self) -> Lending:
        """The loan workflow (and its one permit cache)."""
        from node.lending.service import build_lending

        return self._once("lending", lambda: build_lending(self))

    def preserver(self) -> Preserver:
        """The long-term preservation checks (scheduled and manual passes share its state)."""
        from node.preservation.service import Preserver

        return self._once("preserver", lambda: Preserver(self.sessions, self.reader, self.blobs, self.settings))

    def preserver_if_built(self) -> Preserver | None:
        """The preserver if anything used it yet (status does not build one)."""
        return self._services.get("preserver")

    def extractor(self) -> Extractor:
        """The text extraction job (issue 10): built once, with its OCR probe (what is installed)."""
        from node.search.extraction import Extractor

        ocr, settings = self.ocr(), self.settings
        return self._once("extractor", lambda: Extractor(self.sessions, self.reader, self.blobs, settings, ocr=ocr))

    def ocr(self) -> Ocr:
        """Tesseract and pdftoppm as installed on this machine (probed once, on first use)."""
        from node.search.ocr import Ocr

        return self._once("ocr", lambda: Ocr(languages=self.settings.extraction_ocr_languages))

    def extractor_if_built(self) -> Extractor | None:
        """The extractor if anything used it yet (status does not build one)."""
        return self._services.get("extractor")
    def search(self) -> SearchService:
        """The search index and its queries (node/search/service.py)."""
        from node.search.service import build_search

        return self._once("search", lambda: build_search(self))

    def search_if_built(self) -> SearchService | None:
        return self._services.get("search")

    def login_guard(self) -> LoginGuard:
        """The login policy: throttles and lockouts shared by every login and password check."""
        from node.users.login_guard import LoginGuard

        return self._once("login_guard", lambda: LoginGuard(self.settings))

    def anonymous_failures(self) -> AnonymousFailures:
        """The aggregator of anonymous refusals for the audit trail."""
        from node.audit.middleware import AnonymousFailures

        return self._once("anonymous_failures", lambda: AnonymousFailures(self.settings.audit_anonymous_window_s))

    def filer(
        self, *, config: CheckConfig | None = None, policy_file: Path | None = None, hook: Hook | None = None
    ) -> Filer:
        """A Filer over the node's store (its state lives in the database; built per package). `config`,
        `policy_file` and `hook` replace the settings' defaults (tests)."""
        from node.filing.checks.antivirus import VirusScanner
        from node.filing.checks.engine import CheckConfig
        from node.filing.checks.ziplimits import ZipLimits
        from node.filing.service import Filer, pause_hook

        settings = self.settings
        scanner = VirusScanner(clamd_socket=settings.clamd_socket or None)
        return Filer(
            self.sessions, self.blobs, reader=self.reader,
            config=config or CheckConfig(limits=ZipLimits.for_checks(settings), scanner=scanner),
            policy_file=policy_file, hook=hook or pause_hook(settings.filing_test_pause),
            tmp_dir=settings.tmp_dir, package_limits=ZipLimits.for_packages(settings),
        )  # fmt: skip

    def filing_jobs(self) -> FilingJobs:
        """Transfer packages checked and filed in the background (the web UI's filing page)."""
        from node.filing.jobs import FilingJobs

        return self._once("filing_jobs", lambda: FilingJobs(self))

    def record_rollback(self, loss: dict[str, Any]) -> None:
        """An audit event (system, outcome failed) for confirmed checkpoints the chain lost."""
        from node.audit import service as audit

        fonds = loss["fonds"].removesuffix(audit.AUDIT_LOG_SUFFIX)
        with self.sessions() as s, s.begin():
            audit.record_event(
                s, None, ROLLBACK_ACTION, f"/logs/{loss['fonds']}", "failed", None, loss, fonds,
                default_fonds=self.settings.default_fonds,
            )  # fmt: skip

    def anchor_now(self, *, wait: bool = True, patience_s: float = 30.0) -> AnchorReport:
        """Run the anchorer; if a scheduled run holds the lease, wait for it rather than fail."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                return self.anchorer().run(wait=wait)
            except AnchorBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def anchor_job(self) -> None:
        """The scheduled job: anchor if due; on a chain outage back off and try again later."""
        now = time.monotonic()
        if not self.schedule.due(now):
            return
        try:
            report = self.anchor_now(wait=True, patience_s=0)
            self.schedule.succeeded()
            if report.submitted:
                logger.info("anchored: %s", report.submitted)
        except AnchorBusy:
            return  # a manual run is anchoring right now
        except ChainUnavailable as exc:
            self.schedule.failed(now, str(exc))
            logger.warning(
                "chain unreachable, anchoring retries in %.0fs: %s", self.schedule.next_try - now, exc
            )
        except LedgerError as exc:
            self.schedule.failed(now, str(exc))
            logger.error("anchoring failed: %s", exc)

    def chain_status(self) -> dict[str, Any]:
        try:
            return {
                "reachable": True,
                "chain_id": self.profile.chain_id,
                "block": self.chain().block_number(),
            }
        except LedgerError as exc:
            return {"reachable": False, "chain_id": self.profile.chain_id, "error": str(exc)}

    # -- verification with the node's own trust root (never the bundle's addresses) -------------------------
    def chain_readers(self) -> tuple[Any, ...]:
        """The node's own chain as the verifier's reader; () when the chain cannot be reached (offline)."""
        from anchor.chain import Web3ChainReader

        try:
            return (Web3ChainReader(self.chain().w3),)
        except ChainUnavailable:
            return ()

    def verify_proof(
        self, bundle: dict[str, Any], *, content: Any = None, content_sha256: str | None = None
    ) -> VerificationResult:
        """verify_bundle against the node's trust root and chain (no trust root: indeterminate, no_trust_root)."""
        return verify_bundle(
            bundle, content=content, content_sha256=content_sha256, trust=self.trust_root,
            chains=self.chain_readers(), confirmations=self.profile.confirmations,
        )  # fmt: skip

    def certify(
        self, result: VerificationResult, bundle: dict[str, Any], *, extra: dict[str, Any] | None = None
    ) -> dict:
        """A certificate signed by the node's verifier key, naming the trust root it was issued under."""
        from node.core.errors import Conflict

        if self.trust_root is None:
            raise Conflict("this node has no trust root, so it issues no certificates: run `archive-ledger trust "
                           "issue` and restart the node", reason="no_trust_root")  # fmt: skip
        return issue_certificate(
            result, bundle, self.verifier_key, datetime.now(UTC), issuer=f"archive-ledger node {self.settings.host}",
            trust_root_sha256=self.trust_root.sha256, extra=extra,
        )  # fmt: skip

    def close(self) -> None:
        jobs = self._services.get("filing_jobs")
        if jobs is not None:
            jobs.close()
        self.engine.dispose()
