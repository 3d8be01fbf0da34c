"""The node's settings: one typed object, read once at start from the data dir's config.toml + env."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_FILE = "config.toml"


class Settings(BaseSettings):
    """Environment variables (ARCHIVE_LEDGER_*) override the data dir's config.toml."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_LEDGER_", extra="ignore")

    data_dir: Path
    database_url: str = ""
    chain_profile: str = "dev"
    rpc_url: str = ""
    contract_address: str = ""
    deployed_block: int = 0
    # Per-contract deployment blocks (recorded by init since issue 7; None: use deployed_block).
    anchor_deployed_block: int | None = None
    roles_deployed_block: int | None = None
    permits_deployed_block: int | None = None
    archive_name: str = ""  # the archive's name in the trust root
    public_rpc_endpoints: list[str] = Field(default_factory=list)  # trust root's RPC endpoints (default: rpc_url)
    host: str = "127.0.0.1"
    port: int = 8400
    default_fonds: str = "Z001"
    anchor_interval_s: float = Field(default=60.0, gt=0)
    anchor_enabled: bool = True
    anchor_wait_timeout_s: float = Field(default=120.0, gt=0)
    max_upload_bytes: int = Field(default=4 * 1024**3, gt=0)
    max_metadata_bytes: int = Field(default=64 * 1024, gt=0)
    # Bounded request parsing (node/core/limits.py, docs/design.md "Limits"): every non-streaming body.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_json_depth: int = Field(default=64, ge=8, le=512)  # nesting of a JSON body; 512 stays far from the C stack
    keystore_password_env: str = "ARCHIVE_LEDGER_KEYSTORE_PASSWORD"
    token_ttl_s: float = Field(default=8 * 3600.0, gt=0)  # lifetime of a login token
    chain_key_scrypt_n: int | None = None  # scrypt cost of people's chain keystores (None: eth-account's 2**18)
    roles_address: str = ""  # ArchiveRoles
    permits_address: str = ""  # ReadPermits
    loan_max_period_s: float = Field(default=90 * 86400.0, gt=0)  # longest loan a borrower may request
    # Search (node/search/service.py): the index catches up on start and then every interval; searches are audited
    # one event per caller and window (the first at once, the rest aggregated).
    search_enabled: bool = True
    search_interval_s: float = Field(default=5.0, gt=0)
    search_audit_window_s: float = Field(default=60.0, gt=0)
    # Long-term preservation checks (node/preservation/service.py): a scheduled pass re-hashes blobs at a bounded rate.
    preservation_enabled: bool = True
    preservation_interval_s: float = Field(default=86400.0, gt=0)  # first scheduled pass one interval after start
    preservation_rate_mb_s: float = Field(default=50.0, gt=0)  # bytes read for hashing and parsing, MB/s
    preservation_max_run_s: float = Field(default=3600.0, gt=0)  # a pass stops here; the next resumes at the cursor
    # Login policy (node/users/login_guard.py, docs/design.md "Login policy").
    login_max_failures: int = Field(default=5, ge=1)  # failed logins of one username before a lockout
    login_ip_max_failures: int = Field(default=20, ge=1)  # failed logins from one client address before a lockout
    login_lockout_s: float = Field(default=30.0, gt=0)  # the first lockout; doubles with each further failure
    login_lockout_max_s: float = Field(default=900.0, gt=0)  # the longest lockout
    login_failure_window_s: float = Field(default=900.0, gt=0)  # failures older than this (and unlocked) are forgotten
    login_concurrency: int = Field(default=0, ge=0)  # password checks at once (0: one per CPU core); more: 503
    # Anonymous refusals are aggregated into one audit event per address, route and window (node/audit/middleware.py).
    audit_anonymous_window_s: float = Field(default=300.0, gt=0)
    # Decompression bounds (node/filing/checks/ziplimits.py): format checks at filing and in every preservation pass,
    # and the expansion of ZIP transfer packages (under <data>/tmp). Past a bound: USAB-BOMB / package_unreadable.
    checks_max_inflated_bytes: int = Field(default=1024**3, gt=0)  # all a format check inflates from one file
    checks_max_member_bytes: int = Field(default=256 * 1024**2, gt=0)  # one member of a DOCX/XLSX/OFD
    checks_max_ratio: int = Field(default=200, gt=0)  # inflated:compressed, members over 1 MiB
    checks_max_image_bytes: int = Field(default=128 * 1024**2, gt=0)  # one decoded image frame
    package_max_expanded_bytes: int = Field(default=8 * 1024**3, gt=0)  # a ZIP package, all members together
    package_max_entries: int = Field(default=100_000, gt=0)
    package_min_free_bytes: int = Field(default=1024**3, ge=0)  # free disk that must remain after expanding
    # Text extraction for search (node/search/extraction.py, issue 10): a background job, bounded per item.
    extraction_enabled: bool = True
    extraction_interval_s: float = Field(default=15.0, gt=0)  # the job looks for new items this often
    extraction_batch: int = Field(default=20, ge=1)  # items read from the database at a time
    extraction_max_run_s: float = Field(default=600.0, gt=0)  # a pass stops here; the next resumes
    extraction_max_attempts: int = Field(default=3, ge=1)  # starts of one item before it is failed (gave_up)
    extraction_max_pages: int = Field(default=500, ge=1)  # pages of a PDF/OFD, frames of a TIFF
    extraction_max_pixels: int = Field(default=40_000_000, ge=10_000)  # one image or rendered page
    extraction_max_item_s: float = Field(default=900.0, gt=0)  # all the work on one item, OCR included
    extraction_max_text_chars: int = Field(default=5_000_000, ge=1000)  # text kept per item; the rest is cut
    extraction_ocr_dpi: int = Field(default=300, ge=100, le=600)  # PDF pages are rendered at this for OCR
    extraction_ocr_languages: str = "chi_sim+eng"  # Tesseract models (-l)
    # Four-properties checks at filing: clamd socket (ARCHIVE_LEDGER_CLAMD_SOCKET; empty: clamscan).
    clamd_socket: str = ""
    # Tests only (ARCHIVE_LEDGER_FILING_TEST_PAUSE): "stage=seconds,..." sleeps at filing stages (blob,
    # transaction, commit) so a crash test can SIGKILL a real server there.
    filing_test_pause: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings

    # Paths derived from the data dir: one layout, so init, serve and the CLI agree.
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'node.db'}"

    @property
    def tmp_dir(self) -> Path:
        """Where ZIP packages are expanded: emptied at start and after each request."""
        return self.data_dir / "tmp"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def keystore_path(self) -> Path:
        return self.secrets_dir / "anchor-key.json"

    @property
    def keystore_password_file(self) -> Path:
        return self.secrets_dir / "anchor-key.password"

    @property
    def verifier_key_path(self) -> Path:
        return self.secrets_dir / "verifier.key"

    @property
    def api_key_file(self) -> Path:
        return self.secrets_dir / "api-key"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.secrets_dir / "pseudonym.key"

    @property
    def officers_dir(self) -> Path:
        return self.secrets_dir / "officers"


def load_settings(data_dir: Path | str, **overrides: Any) -> Settings:
    """Read config.toml from the data dir (if present), then env; explicit overrides win."""
    data_dir = Path(data_dir).resolve()
    values: dict[str, Any] = {}
    config = data_dir / CONFIG_FILE
    if config.exists():
        values.update(tomllib.loads(config.read_text(encoding="utf-8")))
    values["data_dir"] = data_dir
    settings = Settings(**values)
    return settings.model_copy(update=overrides) if overrides else settings


def write_config(data_dir: Path, values: dict[str, Any]) -> Path:
    """Write config.toml (no secrets ever go here: keys live in secrets/ with 0600 permissions)."""
    lines = []
    for key, value in sorted(values.items()):
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        elif isinstance(value, list | tuple):
            items = ", ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
            lines.append(f"{key} = [{items}]")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
    path = data_dir / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner only from its first byte
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


OWNER_ONLY = {".": 0o700, CONFIG_FILE: 0o600, "ganache.log": 0o600}


def tighten_data_dir(data_dir: Path) -> None:
    """The data dir 0700, config.toml and ganache.log 0600: nothing of the node readable by others.
    Made so when created; existing ones (an older node's) are tightened at start."""
    for name, mode in OWNER_ONLY.items():
        path = data_dir / name
        if path.exists() and not path.is_symlink() and path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
