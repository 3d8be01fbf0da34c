"""The people of the `people` fixture (tests/conftest.py): one logged-in user per role, the officers
made by init, and the init API key. Tests import `People` and `PEOPLE_PASSWORD` from here."""

from __future__ import annotations

PEOPLE_PASSWORD = "correct horse battery staple"
BUSINESS_USERS = ("archivist", "borrower", "approver", "auditor")  # username = role
OFFICER_USERS = {"system_admin": "sysadmin", "security_admin": "secadmin", "security_auditor": "secauditor"}


class People:
    """One logged-in user per role (tokens), the officers made by init, and the init API key."""

    def __init__(self, tokens: dict[str, str], ids: dict[str, str], passwords: dict[str, str], init_key: str) -> None:
        self.tokens, self.ids, self.passwords, self.init_key = tokens, ids, passwords, init_key

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}
