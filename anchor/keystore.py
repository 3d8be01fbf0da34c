"""The node's signing key: an encrypted JSON keystore (Web3 Secret Storage v3, scrypt) with 0600 perms.

The password comes from an environment variable (default ``ARCHIVE_LEDGER_KEYSTORE_PASSWORD``) or,
when that is not set, from a 0600 password file generated next to the keystore at creation.
Nothing here ever logs, prints or puts into an exception message a key or a password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor.errors import KeystoreError

log = logging.getLogger(__name__)

DEFAULT_PASSWORD_ENV = "ARCHIVE_LEDGER_KEYSTORE_PASSWORD"


def create_keystore(
    path: str | Path,
    password_file: str | Path | None = None,
    *,
    password_env: str = DEFAULT_PASSWORD_ENV,
    private_key: bytes | str | None = None,
    scrypt_n: int | None = None,
) -> str:
    """Create a new key (or import ``private_key``), encrypt it into ``path`` (0600) and return its
    checksummed address.

    The password is taken from ``$password_env`` if set; otherwise a random one is generated and
    written to ``password_file`` (0600, must not exist yet). ``scrypt_n`` overrides the scrypt cost
    (eth-account's default 2**18 takes ~1 s; tests use a small value).
    """
    path = Path(path)
    if path.exists():
        raise KeystoreError(f"keystore {path} already exists; refusing to overwrite a signing key")
    password = os.environ.get(password_env) or None
    if password is None:
        if password_file is None:
            raise KeystoreError(f"no keystore password: set ${password_env} or give a password file to create")
        password_file = Path(password_file)
        if password_file.exists():
            # Re-use an existing (safe) password file, e.g. from an earlier half-finished init.
            password = _read_password_file(password_file)
        else:
            password = secrets.token_urlsafe(32)
            _write_private(password_file, (password + "\n").encode())
    account = Account.from_key(private_key) if private_key is not None else Account.create()
    kwargs = {"iterations": scrypt_n} if scrypt_n else {}
    keyfile = Account.encrypt(account.key, password, kdf="scrypt", **kwargs)
    _write_private(path, json.dumps(keyfile).encode())
    log.info("created keystore %s for address %s", path, account.address)
    return account.address


def load_account(
    path: str | Path,
    password_file: str | Path | None = None,
    *,
    password_env: str = DEFAULT_PASSWORD_ENV,
) -> LocalAccount:
    """Decrypt the keystore at ``path``. Password from ``$password_env``, else from ``password_file``.

    Refuses keystore and password files that the group or others may read (chmod 600 them).
    """
    path = Path(path)
    _check_private(path, "keystore")
    password = os.environ.get(password_env) or None
    if password is None:
        if password_file is None:
            raise KeystoreError(f"no password for keystore {path}: set ${password_env} or configure its password file")
        password = _read_password_file(Path(password_file))
    try:
        keyfile = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise KeystoreError(f"keystore {path} is not a readable JSON keystore file") from None
    if not isinstance(keyfile, dict) or ("crypto" not in keyfile and "Crypto" not in keyfile):
        raise KeystoreError(f"keystore {path} is not an Ethereum JSON keystore (no 'crypto' section)")
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as e:
        if "MAC mismatch" in str(e):
            raise KeystoreError(
                f"wrong password for keystore {path} (check ${password_env} or the password file)"
            ) from None
        raise KeystoreError(f"keystore {path} cannot be decrypted: unsupported or damaged file") from None
    except Exception:  # malformed crypto params, unknown kdf, ...
        raise KeystoreError(f"keystore {path} cannot be decrypted: unsupported or damaged file") from None
    account = Account.from_key(key)
    expected = keyfile.get("address")
    if expected and account.address.lower().removeprefix("0x") != str(expected).lower().removeprefix("0x"):
        raise KeystoreError(f"keystore {path} is damaged: its key does not match its address field")
    return account


def keystore_address(path: str | Path) -> str:
    """The address stored in a keystore file, without decrypting it (checksummed)."""
    from eth_utils import to_checksum_address

    try:
        keyfile = json.loads(Path(path).read_bytes())
        return to_checksum_address("0x" + str(keyfile["address"]).lower().removeprefix("0x"))
    except (OSError, ValueError, KeyError, TypeError):
        raise KeystoreError(f"keystore {path} is missing or has no address field") from None


def _read_password_file(p: Path) -> str:
    _check_private(p, "keystore password file")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise KeystoreError(f"cannot read keystore password file {p}: {e.strerror}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise KeystoreError(f"keystore password file {p} is empty")
    return password


def _check_private(p: Path, what: str) -> None:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise KeystoreError(f"{what} {p} does not exist") from None
    except OSError as e:
        raise KeystoreError(f"cannot access {what} {p}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeystoreError(f"{what} {p} is not a regular file")
    if st.st_mode & 0o077:
        raise KeystoreError(
            f"{what} {p} is readable by group/others (mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}"
        )


def _write_private(p: Path, data: bytes) -> None:
    """Write a new file readable by its owner only (created 0600, never briefly wider)."""
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # in case of an unusual umask/ACL
        # link() fails if the target appeared meanwhile: never overwrite a key.
        try:
            os.link(tmp, p)
        except FileExistsError:
            raise KeystoreError(f"{p} already exists; refusing to overwrite it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


__all__ = ["DEFAULT_PASSWORD_ENV", "create_keystore", "keystore_address", "load_account"]
