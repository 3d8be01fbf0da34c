"""People: accounts, passwords, tokens, roles on chain (service), the login policy (login_guard), routes."""
