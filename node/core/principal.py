"""Who is calling, as the domain sees it: one type for routes, services and the audit trail
(resolved from a bearer credential in node/core/deps.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.core.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in user (token `alt_...`) or an integrator's API key (`alk_...`).

    `fonds` None means every fonds; API keys may be limited to a list."""

    kind: str  # "user" | "api_key"
    id: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    actions: frozenset[str] = field(default_factory=frozenset)
    fonds: frozenset[str] | None = None
    must_change_password: bool = False  # after a confirmed reset: only PASSWORD_CHANGE_ROUTES until changed

    def may(self, action: str) -> bool:
        return action in self.actions

    def covers(self, fonds: str) -> bool:
        return self.fonds is None or fonds in self.fonds


def check_fonds(principal: Principal, fonds: str) -> None:
    """The one fonds check: 403 `fonds_forbidden`; the message never names the fonds (it may be
    another fonds' object's)."""
    if not principal.covers(fonds):
        allowed = ", ".join(sorted(principal.fonds or ()))
        message = f"{principal.kind} {principal.name!r} is limited to fonds {allowed or '(none)'}: not allowed here"
        raise Forbidden(message, reason="fonds_forbidden")
