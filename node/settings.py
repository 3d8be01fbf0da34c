"""The node's settings: one typed object, read once at start from the data dir's config.toml + env."""

from __future__ import annotations

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
    host: str = "127.0.0.1"
    port: int = 8400
    default_fonds: str = "Z001"
    anchor_interval_s: float = Field(default=60.0, gt=0)
    anchor_enabled: bool = True
    anchor_wait_timeout_s: float = Field(default=120.0, gt=0)
    max_upload_bytes: int = Field(default=4 * 1024**3, gt=0)
    max_metadata_bytes: int = Field(default=64 * 1024, gt=0)
    # Bounded request parsing (node/api/limits.py, docs/design.md "Limits"): every non-streaming body.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_json_depth: int = Field(default=64, ge=8, le=512)  # nesting of a JSON body; 512 stays far from the C stack
    keystore_password_env: str = "ARCHIVE_LEDGER_KEYSTORE_PASSWORD"
    token_ttl_s: float = Field(default=8 * 3600.0, gt=0)  # lifetime of a login token
    chain_key_scrypt_n: int | None = None  # scrypt cost of people's chain keystores (None: eth-account's 2**18)
    roles_address: str = ""  # ArchiveRoles
    permits_address: str = ""  # ReadPermits
    loan_max_period_s: float = Field(default=90 * 86400.0, gt=0)  # longest loan a borrower may request
    # Long-term preservation checks (node/preservation.py): a scheduled pass re-hashes blobs at a bounded rate.
    preservation_enabled: bool = True
    preservation_interval_s: float = Field(default=86400.0, gt=0)  # first scheduled pass one interval after start
    preservation_rate_mb_s: float = Field(default=50.0, gt=0)  # bytes read for hashing and parsing, MB/s
    preservation_max_run_s: float = Field(default=3600.0, gt=0)  # a pass stops here; the next resumes at the cursor

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
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
    path = data_dir / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
