"""Encrypted keystore: creation, permissions, password sources, error messages without secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest
from eth_account import Account

from anchor.errors import KeystoreError
from anchor.keystore import DEFAULT_PASSWORD_ENV, create_keystore, keystore_address, load_account

FAST = 2**10  # scrypt cost for tests (the default 2**18 takes ~1 s per operation)
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture(autouse=True)
def _no_env_password(monkeypatch):
    monkeypatch.delenv(DEFAULT_PASSWORD_ENV, raising=False)


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_create_and_load_with_generated_password_file(tmp_path):
    ks, pw = tmp_path / "keys" / "node.json", tmp_path / "keys" / "node.password"
    address = create_keystore(ks, pw, scrypt_n=FAST)
    assert mode(ks) == 0o600 and mode(pw) == 0o600
    assert len(pw.read_text().strip()) >= 40  # token_urlsafe(32)
    data = json.loads(ks.read_text())
    assert data["crypto"]["kdf"] == "scrypt"
    account = load_account(ks, pw)
    assert account.address == address == keystore_address(ks)
    assert not list(tmp_path.glob("keys/.*.tmp"))  # no temp file left behind


def test_import_existing_key(tmp_path):
    address = create_keystore(tmp_path / "k.json", tmp_path / "pw", private_key=KEY, scrypt_n=FAST)
    assert address == Account.from_key(KEY).address
    assert load_account(tmp_path / "k.json", tmp_path / "pw").key == KEY


def test_password_from_env_writes_no_password_file(tmp_path, monkeypatch):
    monkeypatch.setenv(DEFAULT_PASSWORD_ENV, "correct horse battery staple")
    ks, pw = tmp_path / "k.json", tmp_path / "pw"
    address = create_keystore(ks, pw, scrypt_n=FAST)
    assert not pw.exists()
    assert load_account(ks).address == address
    monkeypatch.delenv(DEFAULT_PASSWORD_ENV)
    with pytest.raises(KeystoreError, match=DEFAULT_PASSWORD_ENV):
        load_account(ks)  # neither env nor file


def test_custom_env_var_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KS_PW", "s3cret-value")
    address = create_keystore(tmp_path / "k.json", password_env="MY_KS_PW", scrypt_n=FAST)
    assert load_account(tmp_path / "k.json", password_env="MY_KS_PW").address == address


def test_wrong_password_is_a_keystore_error_without_secrets(tmp_path, monkeypatch):
    ks, pw = tmp_path / "k.json", tmp_path / "pw"
    create_keystore(ks, pw, private_key=KEY, scrypt_n=FAST)
    monkeypatch.setenv(DEFAULT_PASSWORD_ENV, "not-the-password")
    with pytest.raises(KeystoreError, match="wrong password") as exc:
        load_account(ks, pw)
    text = str(exc.value)
    assert "not-the-password" not in text and KEY.hex() not in text
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


@pytest.mark.parametrize("perm", [0o640, 0o604, 0o644])
def test_group_or_other_readable_keystore_is_refused(tmp_path, perm):
    ks, pw = tmp_path / "k.json", tmp_path / "pw"
    create_keystore(ks, pw, scrypt_n=FAST)
    os.chmod(ks, perm)
    with pytest.raises(KeystoreError, match="chmod 600"):
        load_account(ks, pw)


def test_group_readable_password_file_is_refused(tmp_path):
    ks, pw = tmp_path / "k.json", tmp_path / "pw"
    create_keystore(ks, pw, scrypt_n=FAST)
    os.chmod(pw, 0o640)
    with pytest.raises(KeystoreError, match=r"password file .* readable by group/others"):
        load_account(ks, pw)


def test_refuses_to_overwrite(tmp_path):
    ks, pw = tmp_path / "k.json", tmp_path / "pw"
    create_keystore(ks, pw, scrypt_n=FAST)
    before = ks.read_bytes()
    with pytest.raises(KeystoreError, match="already exists"):
        create_keystore(ks, pw, scrypt_n=FAST)
    assert ks.read_bytes() == before


def test_missing_and_damaged_files(tmp_path):
    pw = tmp_path / "pw"
    with pytest.raises(KeystoreError, match="does not exist"):
        load_account(tmp_path / "nope.json", pw)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    os.chmod(bad, 0o600)
    pw.write_text("x\n")
    os.chmod(pw, 0o600)
    with pytest.raises(KeystoreError, match="not a readable JSON keystore"):
        load_account(bad, pw)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(KeystoreError, match="no 'crypto' section"):
        load_account(bad, pw)


def test_no_password_source_at_creation(tmp_path):
    with pytest.raises(KeystoreError, match="no keystore password"):
        create_keystore(tmp_path / "k.json", None, scrypt_n=FAST)
    assert not (tmp_path / "k.json").exists()


def test_default_scrypt_parameters_are_strong(tmp_path):
    create_keystore(tmp_path / "k.json", tmp_path / "pw")
    params = json.loads((tmp_path / "k.json").read_text())["crypto"]["kdfparams"]
    assert params["n"] >= 2**18
