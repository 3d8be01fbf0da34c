"""anchor/chain/ in its parts: the dev-only funding kept out of the production client, one
ChainUnavailable, and the contract wrappers (ArchiveAnchor, ArchiveRoles, ReadPermits) on a real EVM;
`read_permit_at` (what `permit show --rpc` reads) against ganache and against a dead node."""

from __future__ import annotations

import ast

import pytest
from eth_account import Account

import anchor.chain as chain_pkg
from anchor.chain import ChainClient, ReaderChainUnavailable
from anchor.chain.contracts import ANY_LOG, ArchiveAnchor, ArchiveRoles, ReadPermits, read_permit_at
from anchor.chain.dev import fund_from_dev_account
from anchor.deploy import deploy_for_tests
from anchor.errors import ChainError, ChainUnavailable
from anchor.profiles import load_profile
from anchor.roles_chain import is_approver, set_approver
from tests.helpers.ganache_fixture import closed_port_url, ganache_url  # noqa: F401  (fixture)
from tests.helpers.paths import REPO_ROOT
from verifier import errors as verifier_errors
from verifier.records import log_id_for_fonds

UNKNOWN_PERMIT = bytes.fromhex("ab" * 32)
ZERO_ADDRESS = "0x" + "00" * 20


def test_dev_funding_is_not_part_of_the_production_client(chain_client: ChainClient) -> None:
    assert not hasattr(ChainClient, "fund_from_dev_account")
    acct = Account.create()
    receipt = fund_from_dev_account(chain_client, acct.address, 12345)
    assert int(receipt["status"]) == 1
    assert chain_client.balance(acct.address) == 12345


def test_one_chain_unavailable() -> None:
    """anchor's ChainUnavailable is the one the node raises and catches, and it is the verifier's too."""
    assert issubclass(ChainUnavailable, ChainError)
    assert issubclass(ChainUnavailable, verifier_errors.ChainUnavailable)
    assert ReaderChainUnavailable is ChainUnavailable
    defined = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("anchor", "node")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "ChainUnavailable"
    ]
    assert defined == ["anchor/errors.py"]


def test_public_names_are_re_exported() -> None:
    for name in chain_pkg.__all__:
        assert getattr(chain_pkg, name) is not None, name


@pytest.fixture
def deployed(chain_client: ChainClient):  # type: ignore[no-untyped-def]
    node_key = Account.create()
    fund_from_dev_account(chain_client, node_key.address, 10**20)
    deployment, officers = deploy_for_tests(chain_client, node_key)
    return deployment, officers, node_key


def test_contract_wrappers_on_a_fresh_deployment(chain_client: ChainClient, deployed) -> None:  # type: ignore[no-untyped-def]
    deployment, officers, node_key = deployed
    anchor = ArchiveAnchor(chain_client, deployment.anchor)
    assert anchor.latest(log_id_for_fonds("Z001")) == (0, bytes(32), 0)
    assert anchor.root_at(log_id_for_fonds("Z001"), 5) == bytes(32)

    roles = ArchiveRoles(chain_client, deployment.roles)
    assert roles.address == deployment.roles
    assert roles.is_approver(node_key.address) is False
    someone = Account.create()
    assert set_approver(chain_client, deployment.roles, officers["security_admin"], someone.address, grant=True)
    assert is_approver(chain_client, deployment.roles, someone.address)
    assert roles.has_role(roles.approver_role(ANY_LOG), someone.address)
    # the chain already says so: nothing is sent
    assert set_approver(chain_client, deployment.roles, officers["security_admin"], someone.address, grant=True) is None

    permits = ReadPermits(chain_client, deployment.permits)
    assert permits.is_valid(UNKNOWN_PERMIT, 2**40) is False
    view = permits.get_permit(UNKNOWN_PERMIT)
    assert view["approver"] == ZERO_ADDRESS and view["revoked"] is False


def test_wrapped_calls_decode_reverts(chain_client: ChainClient, deployed) -> None:  # type: ignore[no-untyped-def]
    """A write that the contract refuses comes back as a decoded TransactionReverted, not a web3 error."""
    from anchor.errors import TransactionReverted

    deployment, _officers, _node_key = deployed
    roles = ArchiveRoles(chain_client, deployment.roles)
    stranger = Account.create()
    fund_from_dev_account(chain_client, stranger.address, 10**18)
    with pytest.raises(TransactionReverted) as info:
        chain_client.send(stranger, roles.grant_approver(stranger.address))
    assert info.value.error_name is not None


def test_read_permit_at_a_dead_node_is_chain_unavailable() -> None:
    with pytest.raises(ChainUnavailable, match="does not answer"):
        read_permit_at(closed_port_url(), ZERO_ADDRESS, UNKNOWN_PERMIT, timeout_s=2)


@pytest.mark.ganache
def test_read_permit_at_reads_the_chain_alone(ganache_url: str) -> None:  # noqa: F811
    client = ChainClient(load_profile("dev").replace(rpc_url=ganache_url, ganache=None))
    node_key = Account.create()
    fund_from_dev_account(client, node_key.address, 10**20)
    deployment, _officers = deploy_for_tests(client, node_key)
    answer = read_permit_at(ganache_url, deployment.permits.lower(), UNKNOWN_PERMIT)
    assert answer["permit_id"] == UNKNOWN_PERMIT.hex()
    assert answer["contract"] == deployment.permits  # checksummed
    assert answer["chain_id"] == client.chain_id
    assert answer["block"] == client.block_number()
    assert answer["valid_now"] is False
    assert answer["approver"] == ZERO_ADDRESS and answer["revoked"] is False
    assert len(answer["permit"]) == 6  # logId, itemKey, grantee, notBefore, expiresAt, loanId
