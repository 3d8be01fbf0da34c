"""Accounts: users, passwords (argon2id), roles, officer role changes, login tokens, API keys,
pseudonyms for the chain and people's own chain keys. Functions work inside the caller's session
and transaction (so the audit event of an action commits with it); nothing here commits.

Rules (docs/design.md, "Roles and actions"): the system admin manages accounts, the security admin
grants business roles, officer roles change only by a proposal of one officer confirmed by another,
nobody changes their own roles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from anchor.chain import ChainClient
from anchor.models import as_utc, utcnow
from anchor.roles_chain import set_approver
from node.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from node.core.models import ApiKey, AuthToken, OfficerProposal, User, UserRole
from node.core.principal import Principal
from node.core.roles import (
    API_KEY_ALLOWED_ACTIONS,
    OFFICERS,
    Action,
    OfficerChange,
    Role,
    actions_of,
    check_business_change,
    check_officer_confirmation,
    check_officer_proposal,
    parse_actions,
    parse_role,
)

PASSWORD_MIN_LENGTH = 12
TOKEN_PREFIX = "alt_"
API_KEY_PREFIX = "alk_"
RESET_PENDING = "pending"  # reset by the system admin, not yet confirmed by the security admin: no login
MUST_CHANGE = "must_change"  # confirmed (or a new account so flagged): only the own password change is allowed
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.\-]{1,63}$")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- passwords ---------------------------------------------------------------------------------
def check_password_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"a password has at least {PASSWORD_MIN_LENGTH} characters", reason="password_too_short")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return nacl.pwhash.argon2id.str(password.encode("utf-8")).decode("ascii")


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return nacl.pwhash.argon2id.verify(password_hash.encode("ascii"), password.encode("utf-8"))
    except (nacl.exceptions.InvalidkeyError, ValueError):
        return False


# -- users and roles ---------------------------------------------------------------------------
def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", reason="user_not_found")
    return user


def by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def find_user(session: Session, ref: str) -> User:
    """A user by id or by username."""
    user = session.get(User, ref) or by_username(session, ref)
    if user is None:
        raise NotFound(f"no user {ref!r}", reason="user_not_found")
    return user


def roles_of(session: Session, user_id: str) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def user_view(session: Session, user: User, *, roles: Iterable[str] | None = None) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(roles_of(session, user.id) if roles is None else roles),
        "disabled": user.disabled_at is not None,
        "chain_address": user.chain_address,
        "password_reset": user.password_reset_state,
        "created_at": as_utc(user.created_at).isoformat(),
    }


def create_user(
    session: Session, username: str, password: str, *, display_name: str = "", created_by: str | None = None
) -> User:
    if not USERNAME_RE.fullmatch(username or ""):
        raise InvalidInput(
            "a username is 2-64 characters: lower-case letters, digits, '_', '.', '-', starting with a letter",
            reason="bad_username",
        )
    if by_username(session, username) is not None:
        raise Conflict(f"username {username!r} is taken", reason="username_taken")
    user = User(
        id=uuid.uuid4().hex, username=username, display_name=display_name, password_hash=hash_password(password),
        created_by=created_by, password_changed_at=utcnow(),
    )  # fmt: skip
    session.add(user)
    session.flush()
    return user


def create_account(
    session: Session, username: str, password: str, *, display_name: str = "", must_change_password: bool = True,
    created_by: str | None = None, scrypt_n: int | None = None,
) -> User:  # fmt: skip
    """A new account without roles (the security admin grants them), as POST /users and the accounts page
    make it. Every account gets a chain key under its own password, so an approver role can be granted on
    chain later without ever handling the person's key in clear."""
    user = create_user(session, username, password, display_name=display_name, created_by=created_by)
    new_chain_key(user, password, scrypt_n=scrypt_n)
    if must_change_password:
        user.password_reset_state = MUST_CHANGE
    return user


ACCOUNTS_PAGE = 50  # accounts per page of the officers' lists (70 subsidiaries: thousands of accounts)


def user_views(
    session: Session, *, find: str = "", offset: int = 0, limit: int | None = None, reset: str | None = None
) -> list[dict[str, object]]:
    """`user_view` of the accounts by username (those whose username starts with, or display name holds,
    `find`; with a password reset in state `reset`, or in any state for "any"), one query for their roles."""
    query = select(User).order_by(User.username)
    if find:
        pattern = find.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(User.username.like(f"{pattern}%", escape="\\"),
                                User.display_name.like(f"%{pattern}%", escape="\\")))  # fmt: skip
    if reset is not None:
        state = User.password_reset_state
        query = query.where(state.is_not(None) if reset == "any" else state == reset)
    everyone = list(session.scalars(query.offset(offset).limit(limit)))
    held: dict[str, list[str]] = {}
    roles = select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_([u.id for u in everyone]))
    for user_id, role in session.execute(roles.order_by(UserRole.role)):
        held.setdefault(user_id, []).append(role)
    return [user_view(session, user, roles=held.get(user.id, [])) for user in everyone]


def account_counts(session: Session) -> dict[str, int]:
    """How many accounts there are, are disabled, and wait for the security admin's reset confirmation."""
    total, disabled, pending = session.execute(select(
        func.count(), func.count(User.disabled_at),
        func.count(case((User.password_reset_state == RESET_PENDING, 1))),
    )).one()  # fmt: skip
    return {"total": total, "disabled": disabled, "resets": pending}


def revoke_tokens(session: Session, user_id: str) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def set_password(session: Session, user: User, new_password: str, *, old_password: str | None = None) -> None:
    """Set a password. With the old password (the user's own change) the chain key is re-encrypted and
    a pending reset state clears. Without it (a reset by the system admin) the account is locked for
    login until the security admin confirms (`confirm_password_reset`); the chain key cannot be
    re-encrypted, so it stays under the password from before the reset (and a later own change
    leaves it there too, as it does not open with the reset password)."""
    new_hash = hash_password(new_password)
    if old_password is not None:
        if not verify_password(user.password_hash, old_password):
            raise InvalidInput("the current password is wrong", reason="wrong_current_password")
        if user.chain_keystore:
            try:
                account = unlock_chain_key(user, old_password)
            except Unauthorized:  # still under the password from before a reset: leave it there
                account = None
            if account is not None:
                user.chain_keystore = json.dumps(Account.encrypt(account.key, new_password, kdf="scrypt"))
        user.password_reset_state = None
    else:
        user.password_reset_state = RESET_PENDING
    user.password_hash = new_hash
    user.password_changed_at = utcnow()
    revoke_tokens(session, user.id)
    session.flush()


def confirm_password_reset(session: Session, actor: Principal, user: User) -> None:
    """The security admin (roles:grant, checked by the route) confirms a reset made by the system
    admin: the user may log in again, but must change the password first. Never for one's own account,
    never by someone who may also reset passwords (users:manage)."""
    if user.id == actor.id:
        raise Forbidden("nobody confirms a password reset of their own account", reason="own_account")
    if "users:manage" in actions_of(actor.roles):
        raise Forbidden("the officer who may reset passwords cannot also confirm a reset", reason="same_officer")
    if user.password_reset_state != RESET_PENDING:
        raise Conflict(f"no password reset of {user.username} awaits confirmation", reason="no_reset_pending")
    user.password_reset_state = MUST_CHANGE
    session.flush()


def disable_user(session: Session, user: User, *, actor_id: str) -> None:
    if user.id == actor_id:
        raise Forbidden("nobody disables their own account", reason="own_account")
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    revoke_tokens(session, user.id)
    session.flush()


def enable_user(session: Session, user: User) -> None:
    user.disabled_at = None
    session.flush()


def _set_roles(session: Session, user_id: str, new: frozenset[Role], granted_by: str) -> None:
    current = roles_of(session, user_id)
    for role in current - {r.value for r in new}:
        session.delete(session.get(UserRole, (user_id, role)))
    for role in {r.value for r in new} - current:
        session.add(UserRole(user_id=user_id, role=role, granted_by=granted_by))
    session.flush()


def change_business_role(session: Session, actor: Principal, target: User, role: str, *, grant: bool) -> list[str]:
    """The security admin grants or revokes a business role of another account."""
    new = check_business_change(
        actor.id, actor.roles, target.id, roles_of(session, target.id), parse_role(role), grant=grant
    )
    _set_roles(session, target.id, new, actor.id)
    return sorted(r.value for r in new)


def mirror_approver_on_chain(
    session: Session, actor: Principal, user: User, role: str, password: str | None, *, grant: bool,
    chain: Callable[[], ChainClient], roles_address: str,
) -> str | None:
    """Mirror the approver role on chain (ArchiveRoles, signed with the acting security admin's key,
    unlocked with `password` for this one transaction) inside the node's transaction: if the chain
    refuses or is down, the node's role change rolls back with it. `chain` is called only when needed."""
    if role != "approver":
        return None
    if not password:
        raise InvalidInput(
            "the approver role is changed on chain too, signed with your key: give your password",
            reason="password_required",
        )
    if not user.chain_address:
        raise Conflict(f"{user.username} has no chain key: they must set their password once", reason="no_chain_key")
    officer = unlock_chain_key(get_user(session, actor.id), password)
    return set_approver(chain(), roles_address, officer, user.chain_address, grant=grant)


def change_role(
    session: Session, actor: Principal, user: User, role: str, password: str | None, *, grant: bool,
    chain: Callable[[], ChainClient], roles_address: str,
) -> tuple[list[str], str | None]:  # fmt: skip
    """A business role granted or revoked by the security admin (POST/DELETE /users/{ref}/roles and the
    roles page): in the node, and for the approver role on chain too; returns (the new roles, the tx)."""
    roles = change_business_role(session, actor, user, role, grant=grant)
    tx = mirror_approver_on_chain(session, actor, user, role, password, grant=grant, chain=chain,
                                  roles_address=roles_address)  # fmt: skip
    return roles, tx


def propose_officer_change(
    session: Session, actor: Principal, target: User, role: str, *, grant: bool
) -> OfficerProposal:
    change = check_officer_proposal(
        actor.id, actor.roles, target.id, roles_of(session, target.id), parse_role(role), grant=grant
    )
    proposal = OfficerProposal(
        id=uuid.uuid4().hex, target_user_id=target.id, role=change.role.value,
        change="grant" if grant else "revoke", status="PENDING", proposed_by=actor.id,
    )  # fmt: skip
    session.add(proposal)
    session.flush()
    return proposal


def confirm_officer_change(session: Session, actor: Principal, proposal_id: str) -> OfficerProposal:
    proposal = session.get(OfficerProposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no officer proposal {proposal_id}", reason="proposal_not_found")
    if proposal.status != "PENDING":
        raise Conflict(f"proposal {proposal_id} is {proposal.status}", reason="proposal_closed")
    change = OfficerChange(
        proposal.proposed_by, proposal.target_user_id, Role(proposal.role), proposal.change == "grant"
    )
    new = check_officer_confirmation(actor.id, actor.roles, change, roles_of(session, proposal.target_user_id))
    _set_roles(session, proposal.target_user_id, new, actor.id)
    proposal.status = "CONFIRMED"
    proposal.confirmed_by = actor.id
    proposal.confirmed_at = utcnow()
    session.flush()
    return proposal


def proposal_view(p: OfficerProposal) -> dict[str, object]:
    return {
        "id": p.id, "target_user_id": p.target_user_id, "role": p.role, "change": p.change, "status": p.status,
        "proposed_by": p.proposed_by, "confirmed_by": p.confirmed_by,
        "proposed_at": as_utc(p.proposed_at).isoformat(),
    }  # fmt: skip


# -- login tokens ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Login:
    token: str
    user: User
    expires_at: datetime


_DUMMY_HASH: list[str] = []
_DUMMY_LOCK = threading.Lock()


def dummy_password_hash() -> str:
    """An argon2id hash of a random password, made once with the same cost as real ones: an unknown
    username is checked against it so it takes as long as a known one with a wrong password."""
    with _DUMMY_LOCK:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(nacl.pwhash.argon2id.str(secrets.token_bytes(24)).decode("ascii"))
        return _DUMMY_HASH[0]


def login(session: Session, username: str, password: str, *, ttl_s: float) -> Login:
    """Check the password and issue a bearer token (only its SHA-256 is stored). Unknown user, wrong
    password and disabled account get the same answer (`bad_credentials`) after the same work: one
    argon2id check, against a dummy hash when the user is unknown (no user enumeration)."""
    user = by_username(session, username)
    right = verify_password(user.password_hash if user is not None else dummy_password_hash(), password)
    if user is None or not right or user.disabled_at is not None:
        raise Unauthorized("wrong username or password", reason="bad_credentials")
    if user.password_reset_state == RESET_PENDING:
        raise Unauthorized(
            f"the password of {username!r} was reset by the system admin: the security admin must confirm the reset "
            "before you can log in", reason="reset_not_confirmed",
        )  # fmt: skip
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    session.add(AuthToken(token_sha256=sha256_hex(token), user_id=user.id, expires_at=expires))
    session.flush()
    return Login(token, user, expires)


def resolve_token(session: Session, token: str) -> User:
    row = session.scalar(select(AuthToken).where(AuthToken.token_sha256 == sha256_hex(token)))
    if row is None:
        raise Unauthorized("unknown token: log in again", reason="invalid_token")
    if row.revoked_at is not None:
        raise Unauthorized("the token was revoked (logout, password change or disabled account)",
                           reason="token_revoked")  # fmt: skip
    if as_utc(row.expires_at) <= datetime.now(UTC):
        raise Unauthorized("the token has expired: log in again", reason="token_expired")
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        raise Unauthorized("the account is disabled", reason="account_disabled")
    if user.password_reset_state == RESET_PENDING:  # tokens end at a reset; this is a second guard
        raise Unauthorized("the password was reset: the security admin must confirm it", reason="reset_not_confirmed")
    return user


def logout(session: Session, token: str) -> None:
    session.execute(
        update(AuthToken).where(AuthToken.token_sha256 == sha256_hex(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )  # fmt: skip


# -- API keys ----------------------------------------------------------------------------------
def create_api_key(
    session: Session, name: str, actions: Iterable[str], fonds: Iterable[str] | None = None, *,
    created_by: str | None = None, allowed: frozenset[Action] = API_KEY_ALLOWED_ACTIONS,
) -> tuple[ApiKey, str]:  # fmt: skip
    """A new key with an explicit action list (and optional fonds list); returns (row, the key).

    `allowed` bounds the actions; through the API it is the minting person's own actions (separation of
    duties: nobody hands out a power they do not hold) within API_KEY_ALLOWED_ACTIONS. A fonds list, if
    given, is not empty (422 `empty_fonds`): None means every fonds, so an empty list would be ambiguous."""
    wanted = parse_actions(actions)
    if not wanted:
        raise InvalidInput("an API key needs at least one action", reason="no_actions")
    if wanted - allowed:
        raise Forbidden(f"API keys may not carry {', '.join(sorted(wanted - allowed))}", reason="action_not_allowed")
    fonds_list = sorted(set(fonds)) if fonds is not None else None
    if fonds_list is not None and not fonds_list:
        raise InvalidInput("a key's fonds list names at least one fonds (leave it out for every fonds)",
                           reason="empty_fonds")  # fmt: skip
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, key_sha256=sha256_hex(key), actions=json.dumps(sorted(a.value for a in wanted)),
        fonds=json.dumps(fonds_list) if fonds_list is not None else None, created_by=created_by,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row, key


def api_key_actions_for(maker: Principal) -> frozenset[Action]:
    """What a key made by `maker` may carry: their own actions within API_KEY_ALLOWED_ACTIONS (separation of
    duties: nobody hands out a power they do not hold, and no key made later reads content)."""
    return frozenset(a for a in API_KEY_ALLOWED_ACTIONS if maker.may(a))


def resolve_api_key(session: Session, key: str) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == sha256_hex(key)))
    if row is None:
        raise Unauthorized("unknown API key", reason="invalid_api_key")
    if row.revoked_at is not None:
        raise Unauthorized("the API key was revoked", reason="api_key_revoked")
    return row


def api_key_actions(row: ApiKey) -> frozenset[str]:
    return frozenset(json.loads(row.actions or "[]"))


def api_key_fonds(row: ApiKey) -> frozenset[str] | None:
    """None: every fonds (no list stored). A stored empty list (keys made before lists had to name a
    fonds) means no fonds at all, never every fonds."""
    return frozenset(json.loads(row.fonds)) if row.fonds is not None else None


def api_key_view(row: ApiKey) -> dict[str, object]:
    fonds = api_key_fonds(row)
    return {
        "id": row.id, "name": row.name, "actions": sorted(api_key_actions(row)),
        "fonds": sorted(fonds) if fonds is not None else None, "created_by": row.created_by,
        "revoked": row.revoked_at is not None, "created_at": as_utc(row.created_at).isoformat(),
    }  # fmt: skip


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}", reason="api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


# -- pseudonyms ----------------------------------------------------------------------------------
def create_pseudonym_key(path: Path) -> None:
    """32 random bytes (hex) in a new 0600 file; never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def load_pseudonym_key(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        raise Forbidden(f"pseudonym key {path} is readable by group/others: chmod 600 it", reason="key_permissions")
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


def grantee_pseudonym(key: bytes, user_id: str) -> bytes:
    """bytes32 on chain for a person: HMAC-SHA256(node key, "grantee:" + user_id)."""
    return hmac.new(key, b"grantee:" + user_id.encode("utf-8"), hashlib.sha256).digest()


# -- people's chain keys -------------------------------------------------------------------------
def new_chain_key(user: User, password: str, *, scrypt_n: int | None = None) -> LocalAccount:
    """Create the user's chain key, encrypted with `password` into their row; the account is returned
    for immediate use (e.g. by `init`), the caller drops it afterwards."""
    account = Account.create()
    kwargs = {"iterations": scrypt_n} if scrypt_n else {}
    user.chain_keystore = json.dumps(Account.encrypt(account.key, password, kdf="scrypt", **kwargs))
    user.chain_address = account.address
    return account


def ensure_chain_key(user: User, password: str, *, scrypt_n: int | None = None) -> str:
    """Give the user a chain key (a keystore encrypted with their password, stored in their row) if
    they have none; returns the address. The password must be the account's password."""
    if not verify_password(user.password_hash, password):
        raise Unauthorized("wrong password", reason="bad_credentials")
    if not user.chain_keystore:
        new_chain_key(user, password, scrypt_n=scrypt_n)
    return user.chain_address  # type: ignore[return-value]


def unlock_chain_key(user: User, password: str) -> LocalAccount:
    """Decrypt the user's chain key in memory for one signing; never stored decrypted."""
    if not user.chain_keystore:
        raise NotFound(f"user {user.username} has no chain key", reason="no_chain_key")
    try:
        key = Account.decrypt(json.loads(user.chain_keystore), password)
    except ValueError:
        raise Unauthorized("wrong password for the chain key", reason="bad_credentials") from None
    return Account.from_key(key)


__all__ = [
    "OFFICERS", "Login", "actions_of", "create_user", "ensure_chain_key", "grantee_pseudonym",
    "login", "resolve_api_key", "resolve_token", "unlock_chain_key",
]  # fmt: skip
