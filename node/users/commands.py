"""People: login, logout and the users group (over HTTP)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    NodeUrl,
    PasswordFile,
    TokenFile,
    call_node,
    read_password,
)
from node.core.client import node_client

users_app = typer.Typer(no_args_is_help=True, help="Accounts, roles, officer changes, API keys.")


def login(
    username: str,
    node: NodeUrl = DEFAULT_NODE,
    token_file: TokenFile = None,
    password_file: PasswordFile = None,
) -> None:
    """Log in; the bearer token goes to a 0600 file that the other commands use."""
    from node.core.client import default_token_file, save_token

    password = read_password("password", password_file)
    with node_client(node) as client:  # refused: exit 1 (cli.EXIT_CODES)
        answer = client.call_json("POST", "/auth/login", json={"username": username, "password": password})
    path = token_file or default_token_file()
    save_token(path, answer["token"])
    roles = ", ".join(answer["user"]["roles"]) or "no roles"
    typer.echo(f"logged in as {username} ({roles}) until {answer['expires_at']}; token in {path}")
    if answer.get("password_change_required"):
        typer.echo("your password was reset: change it now (`archive-ledger users passwd`); nothing else works before")


def logout(node: NodeUrl = DEFAULT_NODE, token_file: TokenFile = None) -> None:
    """End the login session and remove the token file."""
    from node.core.client import default_token_file, read_credential

    path = token_file or default_token_file()
    token = read_credential(None, path)
    if token:
        with node_client(node, token=token) as client, contextlib.suppress(Exception):
            client.call_json("POST", "/auth/logout")
        path.unlink(missing_ok=True)
    typer.echo("logged out")


@users_app.command("list")
def users_list(node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
               token_file: TokenFile = None) -> None:  # fmt: skip
    """Accounts with their roles (users:read)."""
    for user in call_node(node, api_key_file, "GET", "/users", token_file=token_file)["users"]:
        flags = " (disabled)" if user["disabled"] else ""
        typer.echo(f"{user['username']:<20} {','.join(user['roles']) or '-':<30} {user['id']}{flags}")


@users_app.command("create")
def users_create(
    username: str, display_name: str = "", password_file: PasswordFile = None, node: NodeUrl = DEFAULT_NODE,
    api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
    must_change_password: Annotated[bool, typer.Option(
        help="The user must change the password you set at first login (default: yes).")] = True,
) -> None:  # fmt: skip
    """Create an account (system admin); roles come from the security admin (`users grant`)."""
    password = read_password(f"password for {username}", password_file, confirm=True)
    body = {"username": username, "password": password, "display_name": display_name,
            "must_change_password": must_change_password}  # fmt: skip
    user = call_node(node, api_key_file, "POST", "/users", token_file=token_file, json=body)
    typer.echo(f"created {user['username']} ({user['id']})")


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str | None, typer.Argument(help="Reset this user's password; omit: your own.")] = None,
    password_file: PasswordFile = None, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Set a password: your own (asks the current one) or, as system admin, another user's."""
    if username is None:
        old = typer.prompt("current password", hide_input=True)
        new = read_password("new password", password_file, confirm=True)
        body = {"old_password": old, "new_password": new}
        call_node(node, api_key_file, "POST", "/me/password", token_file=token_file, json=body)
        typer.echo("password changed; log in again")
        return
    new = read_password(f"new password for {username}", password_file, confirm=True)
    call_node(node, api_key_file, "POST", f"/users/{username}/password", token_file=token_file, json={"password": new})
    typer.echo(f"password of {username} reset; their sessions ended; the security admin must confirm the reset "
               f"(`archive-ledger users confirm-reset {username}`) before they can log in")  # fmt: skip


@users_app.command("confirm-reset")
def users_confirm_reset(username: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                        token_file: TokenFile = None) -> None:  # fmt: skip
    """Confirm a password reset made by the system admin (security admin); the user must change it at login."""
    call_node(node, api_key_file, "POST", f"/users/{username}/password/confirm", token_file=token_file)
    typer.echo(f"password reset of {username} confirmed; they must change the password at their next login")


@users_app.command("disable")
def users_disable(username: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                  token_file: TokenFile = None) -> None:  # fmt: skip
    """Disable an account (system admin): no login, its tokens stop working."""
    call_node(node, api_key_file, "POST", f"/users/{username}/disable", token_file=token_file)
    typer.echo(f"disabled {username}")


@users_app.command("grant")
def users_grant(username: str, role: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                token_file: TokenFile = None, password_file: PasswordFile = None) -> None:  # fmt: skip
    """Grant a business role (security admin). `approver` is granted on chain too, signed with your key."""
    body: dict[str, Any] = {"role": role}
    if role == "approver":
        body["password"] = read_password("your password (signs the on-chain role change)", password_file)
    answer = call_node(node, api_key_file, "POST", f"/users/{username}/roles", token_file=token_file, json=body)
    typer.echo(
        f"{username}: {', '.join(answer['roles'])}"
        + (f" (chain tx {answer['chain_tx']})" if answer.get("chain_tx") else "")
    )


@users_app.command("revoke")
def users_revoke(username: str, role: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                 token_file: TokenFile = None, password_file: PasswordFile = None) -> None:  # fmt: skip
    """Revoke a business role (security admin). `approver` is revoked on chain too."""
    body = (
        {"password": read_password("your password (signs the on-chain role change)", password_file)}
        if role == "approver"
        else None
    )
    answer = call_node(
        node, api_key_file, "DELETE", f"/users/{username}/roles/{role}", token_file=token_file, json=body
    )
    typer.echo(f"{username}: {', '.join(answer['roles']) or 'no roles'}")


@users_app.command("propose-officer")
def users_propose_officer(
    username: str, role: str, revoke: Annotated[bool, typer.Option(help="Propose to take the role away.")] = False,
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Propose an officer role change (an officer); another officer confirms it."""
    body = {"user": username, "role": role, "change": "revoke" if revoke else "grant"}
    answer = call_node(node, api_key_file, "POST", "/officer-proposals", token_file=token_file, json=body)
    typer.echo(f"proposal {answer['id']}: {answer['change']} {answer['role']} for {username}; needs another officer")


@users_app.command("confirm-officer")
def users_confirm_officer(proposal_id: str, node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
                          token_file: TokenFile = None) -> None:  # fmt: skip
    """Confirm another officer's proposal; the change applies at once."""
    answer = call_node(node, api_key_file, "POST", f"/officer-proposals/{proposal_id}/confirm", token_file=token_file)
    typer.echo(f"confirmed: roles now {', '.join(answer['roles']) or 'none'}")


@users_app.command("api-key")
def users_api_key(
    name: str,
    action: Annotated[list[str], typer.Option("--action", help="An action the key may do (repeat).")],
    fonds: Annotated[list[str] | None, typer.Option("--fonds", help="Limit to this fonds (repeat).")] = None,
    node: NodeUrl = DEFAULT_NODE, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE, token_file: TokenFile = None,
) -> None:  # fmt: skip
    """Create an integrator API key (system admin); the key is printed once."""
    body = {"name": name, "actions": action, "fonds": fonds or None}
    answer = call_node(node, api_key_file, "POST", "/api-keys", token_file=token_file, json=body)
    typer.echo(answer["key"])
