// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ArchiveRoles
/// @notice Every role of archive-ledger on chain: the three officers (system admin, security admin,
///         auditor) and the per-log business roles ANCHORER and APPROVER. `ArchiveAnchor` and
///         `ReadPermits` consult this contract; they hold no roles of their own.
/// @dev Rules enforced here, on chain:
///      - Officer roles are mutually exclusive per address, and an officer holds no business role
///        (nor may a holder of a business role become an officer).
///      - Nobody holds DEFAULT_ADMIN_ROLE. Officer roles change only through the two-officer flow:
///        one officer proposes, a *different* officer confirms; neither may be the account whose
///        roles change. The last holder of an officer role cannot be removed (replace: grant the
///        role to the successor first, then revoke the predecessor), so every function stays staffed
///        and two officers can always be found for the next change.
///      - SYSTEM_ADMIN administers anchorerRole(logId), SECURITY_ADMIN administers approverRole(logId),
///        both through the dedicated functions; `ANY_LOG` (0x0) is the every-log wildcard.
///      - `grantRole`, `revokeRole` and `renounceRole` of AccessControl are closed: each change has
///        one path, and that path emits the event that names the log.
contract ArchiveRoles is AccessControl {
    bytes32 public constant SYSTEM_ADMIN_ROLE = keccak256("SYSTEM_ADMIN_ROLE");
    bytes32 public constant SECURITY_ADMIN_ROLE = keccak256("SECURITY_ADMIN_ROLE");
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");
    /// @notice Admin role recorded for the officer roles. Never granted to anyone: it stands for
    ///         "two officers, through proposeOfficerChange / confirmOfficerChange".
    bytes32 public constant TWO_OFFICERS = keccak256("TWO_OFFICERS");
    /// @notice Wildcard log id: a role for `ANY_LOG` covers every log. Never a real log id (SHA-256).
    bytes32 public constant ANY_LOG = bytes32(0);

    enum ProposalState {
        None,
        Pending,
        Executed,
        Cancelled
    }

    struct Proposal {
        bytes32 role;
        address account;
        bool grant;
        address proposer;
        ProposalState state;
    }

    /// @notice Number of proposals made; proposal ids are 1..proposalCount.
    uint256 public proposalCount;
    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(bytes32 role => uint256) private _officerCount;
    mapping(address account => uint256) private _businessRoleCount;

    event OfficerChangeProposed(
        uint256 indexed proposalId, bytes32 indexed role, address indexed account, bool grant, address proposer
    );
    event OfficerChangeConfirmed(uint256 indexed proposalId, address indexed confirmer);
    event OfficerChangeCancelled(uint256 indexed proposalId);
    event AnchorerChanged(bytes32 indexed logId, address indexed account, bool granted, address indexed by);
    event ApproverChanged(bytes32 indexed logId, address indexed account, bool granted, address indexed by);

    error ZeroAddress();
    error OfficersNotDistinct();
    /// @notice `account` already holds officer role `heldRole` and cannot also get `role`.
    error OfficerConflict(address account, bytes32 heldRole, bytes32 role);
    /// @notice `account` holds `count` anchorer/approver roles and cannot become an officer.
    error BusinessRoleHolder(address account, uint256 count);
    error NotOfficer(address account);
    error NotOfficerRole(bytes32 role);
    /// @notice An officer may not propose or confirm a change of their own roles.
    error OwnRoleChange(address officer);
    /// @notice The confirming officer must differ from the proposing one.
    error SameOfficer(uint256 proposalId, address officer);
    error UnknownProposal(uint256 proposalId);
    error ProposalNotPending(uint256 proposalId, ProposalState state);
    /// @notice The proposer has lost their officer role since proposing; propose again.
    error ProposerNotOfficer(uint256 proposalId, address proposer);
    error NotProposer(uint256 proposalId, address account);
    error NothingToChange(bytes32 role, address account, bool grant);
    error LastOfficer(bytes32 role);
    /// @notice Officer roles change only through proposeOfficerChange + confirmOfficerChange.
    error OfficerChangeNeedsTwoOfficers(bytes32 role);
    /// @notice Business roles change only through grantAnchorer/revokeAnchorer/grantApprover/revokeApprover.
    error UseDedicatedFunction(bytes32 role);

    /// @param systemAdmin, securityAdmin, auditor: the three initial officers, distinct and non-zero.
    ///        The deployer gets no role.
    constructor(address systemAdmin, address securityAdmin, address auditor) {
        if (systemAdmin == address(0) || securityAdmin == address(0) || auditor == address(0)) revert ZeroAddress();
        if (systemAdmin == securityAdmin || systemAdmin == auditor || securityAdmin == auditor) {
            revert OfficersNotDistinct();
        }
        _setRoleAdmin(SYSTEM_ADMIN_ROLE, TWO_OFFICERS);
        _setRoleAdmin(SECURITY_ADMIN_ROLE, TWO_OFFICERS);
        _setRoleAdmin(AUDITOR_ROLE, TWO_OFFICERS);
        _grantRole(SYSTEM_ADMIN_ROLE, systemAdmin);
        _grantRole(SECURITY_ADMIN_ROLE, securityAdmin);
        _grantRole(AUDITOR_ROLE, auditor);
    }

    // ------------------------------------------------------------------ role ids and views

    /// @notice keccak256(abi.encode("ANCHORER", logId)); derived, not stored.
    function anchorerRole(bytes32 logId) public pure returns (bytes32) {
        return keccak256(abi.encode("ANCHORER", logId));
    }

    /// @notice keccak256(abi.encode("APPROVER", logId)); derived, not stored.
    function approverRole(bytes32 logId) public pure returns (bytes32) {
        return keccak256(abi.encode("APPROVER", logId));
    }

    /// @notice Whether `account` may anchor `logId`, directly or through `ANY_LOG`.
    function isAnchorer(bytes32 logId, address account) external view returns (bool) {
        return hasRole(anchorerRole(logId), account) || hasRole(anchorerRole(ANY_LOG), account);
    }

    /// @notice Whether `account` may approve read permits for `logId`, directly or through `ANY_LOG`.
    function isApprover(bytes32 logId, address account) external view returns (bool) {
        return hasRole(approverRole(logId), account) || hasRole(approverRole(ANY_LOG), account);
    }

    function isOfficerRole(bytes32 role) public pure returns (bool) {
        return role == SYSTEM_ADMIN_ROLE || role == SECURITY_ADMIN_ROLE || role == AUDITOR_ROLE;
    }

    /// @notice The officer role `account` holds, or 0x0 if none.
    function officerRoleOf(address account) public view returns (bytes32) {
        if (hasRole(SYSTEM_ADMIN_ROLE, account)) return SYSTEM_ADMIN_ROLE;
        if (hasRole(SECURITY_ADMIN_ROLE, account)) return SECURITY_ADMIN_ROLE;
        if (hasRole(AUDITOR_ROLE, account)) return AUDITOR_ROLE;
        return bytes32(0);
    }

    /// @notice Number of addresses holding officer role `role`.
    function officerCount(bytes32 role) external view returns (uint256) {
        return _officerCount[role];
    }

    /// @notice Number of anchorer/approver roles (over all logs) `account` holds.
    function businessRoleCount(address account) external view returns (uint256) {
        return _businessRoleCount[account];
    }

    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    function rolesVersion() external pure returns (string memory) {
        return "archive-ledger/ArchiveRoles/1";
    }

    // ------------------------------------------------------------------ business roles

    function grantAnchorer(bytes32 logId, address account) external onlyRole(SYSTEM_ADMIN_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        bytes32 role = _businessRole(anchorerRole(logId), SYSTEM_ADMIN_ROLE);
        if (_grantRole(role, account)) emit AnchorerChanged(logId, account, true, msg.sender);
    }

    function revokeAnchorer(bytes32 logId, address account) external onlyRole(SYSTEM_ADMIN_ROLE) {
        bytes32 role = _businessRole(anchorerRole(logId), SYSTEM_ADMIN_ROLE);
        if (_revokeRole(role, account)) emit AnchorerChanged(logId, account, false, msg.sender);
    }

    function grantApprover(bytes32 logId, address account) external onlyRole(SECURITY_ADMIN_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        bytes32 role = _businessRole(approverRole(logId), SECURITY_ADMIN_ROLE);
        if (_grantRole(role, account)) emit ApproverChanged(logId, account, true, msg.sender);
    }

    function revokeApprover(bytes32 logId, address account) external onlyRole(SECURITY_ADMIN_ROLE) {
        bytes32 role = _businessRole(approverRole(logId), SECURITY_ADMIN_ROLE);
        if (_revokeRole(role, account)) emit ApproverChanged(logId, account, false, msg.sender);
    }

    /// @dev Records the admin of a derived role the first time it is used, so `getRoleAdmin`
    ///      answers truthfully and `_grantRole` can tell business roles apart.
    function _businessRole(bytes32 role, bytes32 adminRole) private returns (bytes32) {
        if (getRoleAdmin(role) != adminRole) _setRoleAdmin(role, adminRole);
        return role;
    }

    // ------------------------------------------------------------------ officer roles: two officers

    /// @notice Propose granting (`grant`) or revoking officer role `role` to/from `account`.
    ///         Needs a confirmation by another officer; neither may be `account`.
    function proposeOfficerChange(bytes32 role, address account, bool grant) external returns (uint256 proposalId) {
        _requireOfficer(msg.sender);
        if (!isOfficerRole(role)) revert NotOfficerRole(role);
        if (account == address(0)) revert ZeroAddress();
        if (account == msg.sender) revert OwnRoleChange(msg.sender);
        if (hasRole(role, account) == grant) revert NothingToChange(role, account, grant);
        proposalId = ++proposalCount;
        _proposals[proposalId] = Proposal(role, account, grant, msg.sender, ProposalState.Pending);
        emit OfficerChangeProposed(proposalId, role, account, grant, msg.sender);
    }

    /// @notice Confirm (and execute) proposal `proposalId`: the second officer's signature.
    function confirmOfficerChange(uint256 proposalId) external {
        Proposal storage p = _pending(proposalId);
        _requireOfficer(msg.sender);
        if (msg.sender == p.proposer) revert SameOfficer(proposalId, msg.sender);
        if (msg.sender == p.account) revert OwnRoleChange(msg.sender);
        if (officerRoleOf(p.proposer) == bytes32(0)) revert ProposerNotOfficer(proposalId, p.proposer);
        if (hasRole(p.role, p.account) == p.grant) revert NothingToChange(p.role, p.account, p.grant);
        p.state = ProposalState.Executed;
        emit OfficerChangeConfirmed(proposalId, msg.sender);
        if (p.grant) {
            _grantRole(p.role, p.account);
        } else {
            _revokeRole(p.role, p.account);
        }
    }

    /// @notice Withdraw a pending proposal (its proposer only).
    function cancelOfficerChange(uint256 proposalId) external {
        Proposal storage p = _pending(proposalId);
        if (msg.sender != p.proposer) revert NotProposer(proposalId, msg.sender);
        p.state = ProposalState.Cancelled;
        emit OfficerChangeCancelled(proposalId);
    }

    function _pending(uint256 proposalId) private view returns (Proposal storage p) {
        p = _proposals[proposalId];
        if (p.state == ProposalState.None) revert UnknownProposal(proposalId);
        if (p.state != ProposalState.Pending) revert ProposalNotPending(proposalId, p.state);
    }

    function _requireOfficer(address account) private view {
        if (officerRoleOf(account) == bytes32(0)) revert NotOfficer(account);
    }

    // ------------------------------------------------------------------ AccessControl, closed

    function grantRole(bytes32 role, address) public pure override {
        _closed(role);
    }

    function revokeRole(bytes32 role, address) public pure override {
        _closed(role);
    }

    function renounceRole(bytes32 role, address) public pure override {
        _closed(role);
    }

    function _closed(bytes32 role) private pure {
        if (isOfficerRole(role)) revert OfficerChangeNeedsTwoOfficers(role);
        revert UseDedicatedFunction(role);
    }

    function _isBusinessRole(bytes32 role) private view returns (bool) {
        bytes32 admin = getRoleAdmin(role);
        return admin == SYSTEM_ADMIN_ROLE || admin == SECURITY_ADMIN_ROLE;
    }

    /// @dev The one place every grant passes: officer exclusivity and officer/business separation.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        bool officer = isOfficerRole(role);
        bool business = !officer && _isBusinessRole(role);
        if (officer || business) {
            bytes32 held = officerRoleOf(account);
            if (held != bytes32(0) && held != role) revert OfficerConflict(account, held, role);
            if (officer && _businessRoleCount[account] != 0) {
                revert BusinessRoleHolder(account, _businessRoleCount[account]);
            }
        }
        bool granted = super._grantRole(role, account);
        if (granted) {
            if (officer) ++_officerCount[role];
            else if (business) ++_businessRoleCount[account];
        }
        return granted;
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool) {
        bool officer = isOfficerRole(role);
        if (officer && hasRole(role, account) && _officerCount[role] == 1) revert LastOfficer(role);
        bool revoked = super._revokeRole(role, account);
        if (revoked) {
            if (officer) --_officerCount[role];
            else if (_isBusinessRole(role)) --_businessRoleCount[account];
        }
        return revoked;
    }
}
