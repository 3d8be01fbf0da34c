"""Chain profiles: one TOML file per chain (chain-config/<name>.toml), read into a frozen dataclass.

The profiles are package data: ``anchor/chain_config`` links to the top-level ``chain-config/``, so
the wheel carries them and an installed node finds them with importlib.resources, wherever it runs.

A profile says *which* chain the node anchors to and *how* it talks to it. It never holds keys.

    [profile]                       # (top level keys, shown here for reading only)
    name = "dev"
    kind = "jsonrpc"                # "eth-tester" (in-process py-evm) or "jsonrpc" (HTTP)
    rpc_url = "http://127.0.0.1:8545"
    chain_id = 1337
    confirmations = 1               # 1 = the block holding the tx is enough
    poll_interval_s = 0.2
    tx_timeout_s = 60
    request_timeout_s = 10
    fund_from_dev_account = true    # dev only: `init` funds the node key from ganache accounts[0]
    fund_amount_wei = 10_000_000_000_000_000_000

    [gas]
    mode = "legacy"                 # "legacy" (gasPrice) or "eip1559"
    gas_price_wei = 0               # legacy: fixed price; omit to ask the node (eth_gasPrice)
    estimate_multiplier = 1.25      # margin over eth_estimateGas

    [ganache]                       # dev profile only: how `dev-chain start` runs ganache
    host = "127.0.0.1"
    port = 8545
    db_path = "ganache"             # relative to the node's data dir
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from anchor.errors import ProfileError

# In a checkout this resolves to the repository's chain-config/; in an installed wheel, to the copy
# inside the package (the wheel has no link, the files themselves).
CHAIN_CONFIG_DIR = Path(str(resources.files("anchor") / "chain_config")).resolve()

KINDS = ("eth-tester", "jsonrpc")
GAS_MODES = ("legacy", "eip1559")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class GasSettings:
    """How transactions are priced.

    legacy: ``gasPrice = gas_price_wei`` (``None`` = ask the node). Besu QBFT networks usually run
    with ``--min-gas-price=0``: use ``gas_price_wei = 0``.
    eip1559: ``maxPriorityFeePerGas = max_priority_fee_per_gas_wei`` (``None`` = ask the node) and
    ``maxFeePerGas = max_fee_per_gas_wei`` (``None`` = 2 * latest base fee + priority fee).
    """

    mode: Literal["legacy", "eip1559"] = "legacy"
    gas_price_wei: int | None = None
    max_fee_per_gas_wei: int | None = None
    max_priority_fee_per_gas_wei: int | None = None
    estimate_multiplier: float = 1.25
    gas_limit: int | None = None  # fixed gas limit instead of an estimate (rarely needed)


@dataclass(frozen=True)
class GanacheSettings:
    host: str = "127.0.0.1"
    port: int = 8545
    db_path: str = "ganache"  # relative to the data dir (an absolute path is used as is)
    extra_args: tuple[str, ...] = ()

    def db_dir(self, data_dir: str | Path) -> Path:
        p = Path(self.db_path)
        return p if p.is_absolute() else Path(data_dir) / p


@dataclass(frozen=True)
class ChainProfile:
    name: str
    kind: Literal["eth-tester", "jsonrpc"]
    chain_id: int
    rpc_url: str | None = None
    confirmations: int = 1
    poll_interval_s: float = 1.0
    tx_timeout_s: float = 120.0
    request_timeout_s: float = 10.0
    fund_from_dev_account: bool = False
    fund_amount_wei: int = 0
    gas: GasSettings = dataclasses.field(default_factory=GasSettings)
    ganache: GanacheSettings | None = None
    source: str | None = None  # the file the profile was read from (for messages)

    def replace(self, **changes: Any) -> ChainProfile:
        """A copy with some fields changed (e.g. ``rpc_url`` of an ephemeral test ganache)."""
        return _validated(dataclasses.replace(self, **changes))


def profile_path(name: str) -> Path:
    return CHAIN_CONFIG_DIR / f"{name}.toml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in CHAIN_CONFIG_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> ChainProfile:
    """Load a profile by name (``"test"``, ``"dev"``, ``"besu-qbft"``) or from a TOML file path."""
    path = _resolve(name_or_path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ProfileError(
            f"chain profile file {path} does not exist; known profiles: {', '.join(available_profiles())}"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"chain profile {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ProfileError(f"cannot read chain profile {path}: {e.strerror}") from None
    return profile_from_dict(data, source=str(path))


def profile_from_dict(data: dict[str, Any], *, source: str = "<dict>") -> ChainProfile:
    data = dict(data)
    gas_data = data.pop("gas", {}) or {}
    ganache_data = data.pop("ganache", None)
    top = _fields(ChainProfile) - {"gas", "ganache", "source"}
    _reject_unknown(data, top, source, "")
    for required in ("name", "kind", "chain_id"):
        if required not in data:
            raise ProfileError(f"chain profile {source}: missing required key '{required}'")
    if not isinstance(gas_data, dict):
        raise ProfileError(f"chain profile {source}: [gas] must be a table")
    _reject_unknown(gas_data, _fields(GasSettings), source, "gas.")
    gas = GasSettings(**gas_data)
    ganache = None
    if ganache_data is not None:
        if not isinstance(ganache_data, dict):
            raise ProfileError(f"chain profile {source}: [ganache] must be a table")
        _reject_unknown(ganache_data, _fields(GanacheSettings), source, "ganache.")
        ganache_data = dict(ganache_data)
        if "extra_args" in ganache_data:
            ganache_data["extra_args"] = tuple(ganache_data["extra_args"])
        ganache = GanacheSettings(**ganache_data)
    if ganache is not None and "rpc_url" not in data:
        data["rpc_url"] = f"http://{ganache.host}:{ganache.port}"
    profile = ChainProfile(**data, gas=gas, ganache=ganache, source=source)
    return _validated(profile)


def _resolve(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path):
        return name_or_path
    s = str(name_or_path)
    if "/" in s or "\\" in s or s.endswith(".toml"):
        return Path(s).expanduser()
    if not _NAME_RE.match(s):
        raise ProfileError(f"invalid chain profile name {s!r}; use a name like 'dev' or a path to a .toml")
    return profile_path(s)


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _reject_unknown(data: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProfileError(
            f"chain profile {source}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"allowed: {', '.join(sorted(prefix + k for k in allowed))}"
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _validated(p: ChainProfile) -> ChainProfile:
    where = f"chain profile {p.source or p.name}"
    if p.kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {', '.join(KINDS)}, not {p.kind!r}")
    if not _is_int(p.chain_id) or p.chain_id <= 0:
        raise ProfileError(f"{where}: chain_id must be a positive integer")
    if p.kind == "jsonrpc" and (not p.rpc_url or not str(p.rpc_url).startswith(("http://", "https://"))):
        raise ProfileError(f'{where}: a jsonrpc profile needs rpc_url = "http(s)://host:port"')
    if not _is_int(p.confirmations) or p.confirmations < 1:
        raise ProfileError(f"{where}: confirmations must be >= 1 (1 = the block that holds the transaction)")
    for key in ("poll_interval_s", "tx_timeout_s", "request_timeout_s"):
        v = getattr(p, key)
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise ProfileError(f"{where}: {key} must be a positive number of seconds")
    if not isinstance(p.fund_from_dev_account, bool):
        raise ProfileError(f"{where}: fund_from_dev_account must be true or false")
    if not _is_int(p.fund_amount_wei) or p.fund_amount_wei < 0:
        raise ProfileError(f"{where}: fund_amount_wei must be a non-negative integer")
    g = p.gas
    if g.mode not in GAS_MODES:
        raise ProfileError(f"{where}: gas.mode must be one of {', '.join(GAS_MODES)}, not {g.mode!r}")
    for key in ("gas_price_wei", "max_fee_per_gas_wei", "max_priority_fee_per_gas_wei", "gas_limit"):
        v = getattr(g, key)
        if v is not None and (not _is_int(v) or v < 0):
            raise ProfileError(f"{where}: gas.{key} must be a non-negative integer (wei)")
    m = g.estimate_multiplier
    if isinstance(m, bool) or not isinstance(m, int | float) or m < 1:
        raise ProfileError(f"{where}: gas.estimate_multiplier must be a number >= 1")
    if g.mode == "legacy" and (g.max_fee_per_gas_wei is not None or g.max_priority_fee_per_gas_wei is not None):
        raise ProfileError(f'{where}: gas.max_*_fee_per_gas_wei only apply with gas.mode = "eip1559"')
    if g.mode == "eip1559" and g.gas_price_wei is not None:
        raise ProfileError(f'{where}: gas.gas_price_wei only applies with gas.mode = "legacy"')
    if p.ganache is not None:
        if not _is_int(p.ganache.port) or not 0 < p.ganache.port < 65536:
            raise ProfileError(f"{where}: ganache.port must be a TCP port number")
        if not all(isinstance(a, str) for a in p.ganache.extra_args):
            raise ProfileError(f"{where}: ganache.extra_args must be a list of strings")
    return p


__all__ = [
    "CHAIN_CONFIG_DIR",
    "ChainProfile",
    "GanacheSettings",
    "GasSettings",
    "available_profiles",
    "load_profile",
    "profile_from_dict",
    "profile_path",
]
