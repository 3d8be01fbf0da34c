"""ChainClient: profiles, signing, nonces, idempotent broadcast, confirmations, revert decoding.

The first half runs on the in-process eth-tester chain; the tests marked ``ganache`` run against a
real ganache (one per module, see tests/helpers/ganache_fixture.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

import eth_abi
import pytest
from eth_account import Account
from eth_utils import keccak

from anchor.chain import ChainClient, NonceManager, SignedTx, Web3ChainReader, connect, decode_revert
from anchor.chain.dev import fund_from_dev_account
from anchor.deploy import deploy_for_tests
from anchor.errors import (
    ChainError,
    ChainUnavailable,
    LedgerError,
    NonceTooLow,
    ProfileError,
    TransactionReverted,
)
from anchor.profiles import ChainProfile, GasSettings, load_profile
from tests.helpers.ganache_fixture import closed_port_url, ganache_url  # noqa: F401  (fixture)

try:
    from contracts import ArtifactError, load_artifact

    ARTIFACT = load_artifact("ArchiveAnchor")
except (ImportError, ArtifactError):  # pragma: no cover - before the contract is compiled
    ARTIFACT = None

needs_artifact = pytest.mark.skipif(ARTIFACT is None, reason="contracts/build/ArchiveAnchor.json missing")

LOG = keccak(b"test-log")
ROOT = b"\x22" * 32


# ------------------------------------------------------------------------------------------------
# profiles


def test_shipped_profiles_load():
    test, dev, besu = load_profile("test"), load_profile("dev"), load_profile("besu-qbft")
    assert test.kind == "eth-tester" and test.confirmations == 1
    assert dev.kind == "jsonrpc" and dev.chain_id == 1337 and dev.rpc_url == "http://127.0.0.1:8545"
    assert dev.fund_from_dev_account and dev.ganache and dev.ganache.db_dir("/d") == Path("/d/ganache")
    assert besu.gas.mode == "legacy" and besu.gas.gas_price_wei == 0 and not besu.fund_from_dev_account


def test_profile_by_path_and_errors(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('name = "x"\nkind = "jsonrpc"\nrpc_url = "http://10.0.0.1:8545"\nchain_id = 7\n')
    prof = load_profile(str(p))
    assert prof.name == "x" and prof.chain_id == 7 and prof.source == str(p)
    p.write_text('name = "x"\nkind = "jsonrpc"\nrpc_url = "http://h:1"\nchain_id = 7\nconfirmation = 2\n')
    with pytest.raises(ProfileError, match=r"unknown key.*confirmation"):
        load_profile(p)
    p.write_text('name = "x"\nkind = "jsonrpc"\nchain_id = 7\n')
    with pytest.raises(ProfileError, match="rpc_url"):
        load_profile(p)
    p.write_text('name = "x"\nkind = "geth"\nchain_id = 7\n')
    with pytest.raises(ProfileError, match="kind must be"):
        load_profile(p)
    p.write_text("name = ")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(p)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("no-such-profile")
    with pytest.raises(ProfileError, match="confirmations"):
        load_profile("test").replace(confirmations=0)
    assert issubclass(ProfileError, LedgerError)


# ------------------------------------------------------------------------------------------------
# eth-tester


@pytest.fixture(scope="module")
def tester_w3():
    return connect(load_profile("test"))


@pytest.fixture(scope="module")
def tclient(tester_w3):
    return ChainClient(load_profile("test"), tester_w3)


@pytest.fixture(scope="module")
def tacct(tclient):
    acct = Account.create()
    fund_from_dev_account(tclient, acct.address, 10**20)
    return acct


@pytest.fixture(scope="module")
def tanchor(tclient, tacct):
    if ARTIFACT is None:
        pytest.skip("contracts/build/ArchiveAnchor.json missing")
    deployment, _officers = deploy_for_tests(tclient, tacct)  # tacct anchors every log
    assert tclient.get_code(deployment.anchor)
    return tclient.contract(deployment.anchor, ARTIFACT)


def test_wrong_chain_id_is_refused(tester_w3):
    wrong = load_profile("test").replace(chain_id=1)
    with pytest.raises(ChainError, match="wrong chain"):
        ChainClient(wrong, tester_w3)


def test_clients_share_one_in_process_chain(tester_w3, tclient, tacct):
    other = ChainClient(load_profile("test"), tester_w3)
    assert other.block_number() == tclient.block_number()
    assert other.balance(tacct.address) == tclient.balance(tacct.address) > 0


@needs_artifact
def test_anchor_first_checkpoint_prepare_broadcast_confirm(tclient, tacct, tanchor):
    signed = tclient.prepare(tacct, tanchor.functions.anchor(LOG, 3, ROOT, []))
    assert isinstance(signed, SignedTx) and signed.raw and signed.tx_hash.startswith("0x")
    assert signed.tx_hash == "0x" + keccak(signed.raw).hex()
    tclient.broadcast(signed)
    tclient.broadcast(signed)  # idempotent
    receipt = tclient.wait_confirmed(signed.tx_hash)
    assert receipt["status"] == 1
    assert tclient.confirmations_of(receipt) >= 1
    assert tclient.transaction_known(signed.tx_hash)
    size, root, block = tclient.call(tanchor.functions.latest(LOG))
    assert (size, root, block) == (3, ROOT, receipt["blockNumber"])
    events = tanchor.events.CheckpointAnchored().process_receipt(receipt)
    assert events[0]["args"]["treeSize"] == 3
    tx = tclient.w3.eth.get_transaction(signed.tx_hash)
    assert tx["chainId"] == tclient.chain_id  # EIP-155 / typed tx carry the chain id


@needs_artifact
def test_revert_at_estimate_is_decoded(tclient, tacct, tanchor):
    with pytest.raises(TransactionReverted) as exc:
        tclient.prepare(tacct, tanchor.functions.anchor(LOG, 0, ROOT, []))
    assert exc.value.error_name == "EmptyCheckpoint"
    assert exc.value.args == (LOG,)
    assert "EmptyCheckpoint(0x" in str(exc.value)


@needs_artifact
def test_mined_revert_is_decoded_by_replay(tclient, tacct, tanchor):
    # an explicit gas limit skips the estimate, so the failing transaction is mined with status 0
    signed = tclient.prepare(tacct, tanchor.functions.anchor(LOG, 0, ROOT, []), gas=300_000)
    tclient.broadcast(signed)
    with pytest.raises(TransactionReverted) as exc:
        tclient.wait_confirmed(signed.tx_hash)
    assert exc.value.error_name == "EmptyCheckpoint" and exc.value.args == (LOG,)
    assert exc.value.tx_hash == signed.tx_hash and exc.value.receipt["status"] == 0


@needs_artifact
def test_not_anchorer_revert(tclient, tanchor):
    stranger = Account.create()
    fund_from_dev_account(tclient, stranger.address, 10**18)
    with pytest.raises(TransactionReverted) as exc:
        tclient.send(stranger, tanchor.functions.anchor(keccak(b"other"), 1, ROOT, []))
    assert exc.value.error_name == "NotAnchorer"
    assert exc.value.args == (keccak(b"other"), stranger.address)


def test_decode_revert_builtin_and_unknown():
    data = bytes.fromhex("08c379a0") + eth_abi.encode(["string"], ["nope"])
    assert decode_revert(data) == ("Error", ("nope",))
    assert decode_revert("0x" + (bytes.fromhex("4e487b71") + eth_abi.encode(["uint256"], [0x11])).hex()) == (
        "Panic",
        (0x11,),
    )
    assert decode_revert(b"\xde\xad\xbe\xef") == (None, ())
    assert decode_revert(b"") == (None, ())
    abi = [{"type": "error", "name": "E", "inputs": [{"name": "x", "type": "uint64"}]}]
    assert decode_revert(keccak(text="E(uint64)")[:4] + eth_abi.encode(["uint64"], [5]), abi) == ("E", (5,))


def test_prepare_reserves_consecutive_nonces_and_release(tclient, tacct):
    nm = tclient.nonce_manager(tacct.address)
    assert isinstance(nm, NonceManager) and tclient.nonce_manager(tacct.address) is nm
    tx = {"to": tacct.address, "value": 0, "gas": 21_000}
    a = tclient.prepare(tacct, tx)
    b = tclient.prepare(tacct, tx)
    assert b.nonce == a.nonce + 1
    tclient.release(b)  # never broadcast: its nonce is handed out again
    c = tclient.prepare(tacct, dict(tx, value=1))
    assert c.nonce == b.nonce
    for s in (a, c):
        tclient.broadcast(s)
        assert tclient.wait_confirmed(s.tx_hash)["status"] == 1


def test_nonce_too_low_for_a_different_transaction(tclient, tacct):
    used = tclient.send(tacct, {"to": tacct.address, "value": 0, "gas": 21_000})
    tclient.wait_confirmed(used.tx_hash)
    other = tclient.sign(tacct, {"to": tacct.address, "value": 7, "gas": 21_000}, nonce=used.nonce)
    with pytest.raises(NonceTooLow) as exc:
        tclient.broadcast(other)
    assert exc.value.nonce == used.nonce


@needs_artifact
def test_web3_chain_reader(tester_w3, tanchor):
    reader = Web3ChainReader(tester_w3)
    assert reader.chain_id() == load_profile("test").chain_id
    assert reader.block_number() >= 1
    assert reader.get_code(tanchor.address)
    ret = reader.call(tanchor.address, tanchor.encode_abi("anchorVersion", []), "latest")
    assert eth_abi.decode(["string"], ret)[0] == "archive-ledger/ArchiveAnchor/1"
    assert reader.get_code("0x" + "00" * 19 + "42") == b""


# ------------------------------------------------------------------------------------------------
# real ganache


def ganache_profile(url: str, **changes) -> ChainProfile:
    return load_profile("dev").replace(rpc_url=url, ganache=None, **changes)


@pytest.fixture(scope="module")
def gclient(ganache_url):  # noqa: F811
    return ChainClient(ganache_profile(ganache_url))


@pytest.fixture(scope="module")
def gacct(gclient):
    acct = Account.create()
    fund_from_dev_account(gclient, acct.address, 10**20)
    return acct


@pytest.mark.ganache
def test_ganache_wrong_chain_id(ganache_url):  # noqa: F811
    with pytest.raises(ChainError, match=r"wrong chain.*1337"):
        ChainClient(ganache_profile(ganache_url, chain_id=5))


@pytest.mark.ganache
def test_ganache_rejects_tx_signed_for_another_chain(ganache_url, gclient, gacct):  # noqa: F811
    foreign = ChainClient(ganache_profile(ganache_url, chain_id=5), check_chain_id=False)
    signed = foreign.sign(gacct, {"to": gacct.address, "value": 1, "gas": 21_000})
    with pytest.raises(ChainError, match=r"Invalid (chain id|signature v value)") as exc:
        gclient.broadcast(signed)
    assert not isinstance(exc.value, NonceTooLow)
    assert not gclient.transaction_known(signed.tx_hash)
    # and ours carries the right chain id (EIP-155 v for legacy transactions)
    ok = gclient.send(gacct, {"to": gacct.address, "value": 1, "gas": 21_000})
    tx = gclient.w3.eth.get_transaction(ok.tx_hash)
    assert tx["type"] == 0 and tx["v"] in (1337 * 2 + 35, 1337 * 2 + 36)


@pytest.mark.ganache
@pytest.mark.parametrize("mode", ["legacy", "eip1559"])
def test_ganache_broadcast_twice_is_harmless(ganache_url, mode):  # noqa: F811
    gas = GasSettings(mode=mode)
    client = ChainClient(ganache_profile(ganache_url, gas=gas))
    acct = Account.create()
    fund_from_dev_account(client, acct.address, 10**18)
    sink = Account.create().address
    signed = client.prepare(acct, {"to": sink, "value": 1000, "gas": 21_000})
    for _ in range(3):
        client.broadcast(signed)
    client.wait_confirmed(signed.tx_hash)
    client.broadcast(signed)  # after mining too
    assert client.balance(sink) == 1000
    assert client.w3.eth.get_transaction_count(acct.address) == 1


@pytest.mark.ganache
def test_ganache_concurrent_sends_get_distinct_consecutive_nonces(gclient, gacct):
    sink = Account.create().address
    start = gclient.w3.eth.get_transaction_count(gacct.address, "pending")
    results: list[SignedTx] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(25):
                s = gclient.send(gacct, {"to": sink, "value": 1, "gas": 21_000})
                with lock:
                    results.append(s)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(s.nonce for s in results) == list(range(start, start + 100))
    for s in results:
        assert gclient.wait_confirmed(s.tx_hash, timeout=30)["status"] == 1
    assert gclient.balance(sink) == 100
    assert gclient.w3.eth.get_transaction_count(gacct.address) == start + 100


@pytest.mark.ganache
@needs_artifact
def test_ganache_deploy_anchor_and_decode_revert(gclient, gacct):
    deployment, _officers = deploy_for_tests(gclient, gacct)
    contract = gclient.contract(deployment.anchor, ARTIFACT)
    signed = gclient.prepare(gacct, contract.functions.anchor(LOG, 5, ROOT, []))
    gclient.broadcast(signed)
    receipt = gclient.wait_confirmed(signed.tx_hash)
    assert gclient.call(contract.functions.rootAt(LOG, 5)) == ROOT
    assert gclient.confirmations_of(receipt) == 1
    with pytest.raises(TransactionReverted) as exc:
        gclient.prepare(gacct, contract.functions.anchor(LOG, 4, ROOT, []))
    assert exc.value.error_name == "LogShrinks" and exc.value.args == (LOG, 5, 4)
    failing = gclient.prepare(gacct, contract.functions.anchor(LOG, 0, ROOT, []), gas=200_000)
    gclient.broadcast(failing)
    with pytest.raises(TransactionReverted) as exc:
        gclient.wait_confirmed(failing.tx_hash)
    assert exc.value.error_name == "EmptyCheckpoint"


@pytest.mark.ganache
def test_ganache_receipt_of_unknown_tx(gclient):
    assert gclient.receipt("0x" + "11" * 32) is None
    assert not gclient.transaction_known("0x" + "11" * 32)


def test_chain_unavailable_when_node_is_down():
    url = closed_port_url()
    with pytest.raises(ChainUnavailable, match="does not answer"):
        ChainClient(ganache_profile(url))
    client = ChainClient(ganache_profile(url), check_chain_id=False)
    acct = Account.create()
    with pytest.raises(ChainUnavailable):
        client.block_number()
    with pytest.raises(ChainUnavailable):
        client.send(acct, {"to": acct.address, "value": 0, "gas": 21_000})
    with pytest.raises(ChainUnavailable):
        client.broadcast(SignedTx(b"\x01", "0x" + "00" * 32, 0, acct.address))
    with pytest.raises(ChainUnavailable):
        client.receipt("0x" + "00" * 32)
    reader = Web3ChainReader(client.w3)
    from verifier.errors import ChainUnavailable as VerifierChainUnavailable

    with pytest.raises(VerifierChainUnavailable):
        reader.block_number()


@pytest.mark.ganache
def test_ganache_nonce_too_low_and_send_recovers(gclient, gacct):
    used = gclient.send(gacct, {"to": gacct.address, "value": 0, "gas": 21_000})
    other = gclient.sign(gacct, {"to": gacct.address, "value": 3, "gas": 21_000}, nonce=used.nonce)
    with pytest.raises(NonceTooLow):
        gclient.broadcast(other)
    # another process used the next nonce behind our back: send() re-reads it and retries once
    nm = gclient.nonce_manager(gacct.address)
    behind = gclient.sign(gacct, {"to": gacct.address, "value": 4, "gas": 21_000}, nonce=used.nonce + 1)
    gclient.broadcast(behind)
    nm._next = used.nonce + 1  # stale local counter
    again = gclient.send(gacct, {"to": gacct.address, "value": 5, "gas": 21_000})
    assert again.nonce == used.nonce + 2
