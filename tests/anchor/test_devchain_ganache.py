"""The persistent dev chain: start/stop/status, idempotent start, state survives a restart."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak

from anchor import devchain
from anchor.chain import ChainClient
from anchor.chain.dev import fund_from_dev_account
from anchor.deploy import deploy_for_tests
from anchor.errors import ChainError, ProfileError
from anchor.profiles import GanacheSettings, load_profile
from tests.helpers.ganache_fixture import free_port

try:
    from contracts import ArtifactError, load_artifact

    ARTIFACT = load_artifact("ArchiveAnchor")
except (ImportError, ArtifactError):  # pragma: no cover
    ARTIFACT = None

pytestmark = [
    pytest.mark.ganache,
    pytest.mark.skipif(not devchain.GANACHE_BIN.exists(), reason="ganache not installed (make setup)"),
]

LOG = keccak(b"devchain-test")
ROOT = b"\x33" * 32


@pytest.fixture
def profile():
    port = free_port()
    return load_profile("dev").replace(
        rpc_url=f"http://127.0.0.1:{port}", ganache=GanacheSettings(host="127.0.0.1", port=port)
    )


@pytest.fixture
def data_dir(tmp_path, profile):
    yield tmp_path / "data"
    devchain.stop(tmp_path / "data", profile)  # never leave a ganache behind


def test_ganache_command_flags(tmp_path):
    cmd = devchain.ganache_command(chain_id=1337, db_path=tmp_path / "db", port=8545)
    for flag in ("--chain.chainId", "--database.dbPath", "--wallet.deterministic", "--miner.instamine"):
        assert flag in cmd
    assert cmd[cmd.index("--server.host") + 1] == "127.0.0.1"


def test_profile_without_ganache_section_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="no \\[ganache\\] section"):
        devchain.start(tmp_path, load_profile("besu-qbft"))


@pytest.mark.skipif(ARTIFACT is None, reason="contracts/build/ArchiveAnchor.json missing")
def test_start_deploy_stop_start_keeps_state(data_dir, profile):
    st = devchain.status(data_dir, profile)
    assert not st.running and st.pid is None

    url = devchain.start(data_dir, profile)
    assert url == profile.rpc_url
    st = devchain.status(data_dir, profile)
    assert st.running and st.pid and st.chain_id == 1337 and "running" in st.describe()
    assert (data_dir / "ganache.pid").exists() and (data_dir / "ganache.log").exists()
    assert (data_dir / "ganache").is_dir()
    first_pid = st.pid
    assert devchain.start(data_dir, profile) == url  # idempotent: no second ganache
    assert devchain.status(data_dir, profile).pid == first_pid

    client = ChainClient(profile)
    dev0 = client.w3.eth.accounts[0]
    acct = Account.create()
    fund_from_dev_account(client, acct.address, 10**19)
    deployment, _officers = deploy_for_tests(client, acct)
    address = deployment.anchor
    contract = client.contract(address, ARTIFACT)
    client.wait_confirmed(client.send(acct, contract.functions.anchor(LOG, 2, ROOT, [])).tx_hash)
    code, block, balance = client.get_code(address), client.block_number(), client.balance(acct.address)

    assert devchain.stop(data_dir, profile) is True
    st = devchain.status(data_dir, profile)
    assert not st.running and st.pid is None and "not running" in st.describe()
    assert not (data_dir / "ganache.pid").exists()
    assert devchain.stop(data_dir, profile) is False

    devchain.start(data_dir, profile)
    client = ChainClient(profile)
    contract = client.contract(address, ARTIFACT)
    assert client.get_code(address) == code
    assert client.block_number() == block
    assert client.balance(acct.address) == balance
    assert client.w3.eth.accounts[0] == dev0
    assert client.call(contract.functions.rootAt(LOG, 2)) == ROOT
    # and the chain goes on from there: the nonce manager reads the persisted nonce
    receipt = client.wait_confirmed(client.send(acct, contract.functions.anchor(LOG, 2, ROOT, [])).tx_hash)
    assert receipt["blockNumber"] == block + 1


def test_start_refuses_a_port_serving_another_chain(tmp_path, profile):
    other = profile.replace(chain_id=4242)
    devchain.start(tmp_path / "a", other)
    try:
        with pytest.raises(ChainError, match="already serves chain id 4242"):
            devchain.start(tmp_path / "b", profile)
    finally:
        devchain.stop(tmp_path / "a", other)
