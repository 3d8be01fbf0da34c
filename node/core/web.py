"""The web UI's shared core (issue 11; docs/design.md, "Web UI"): Jinja2 rendering with the message
catalogue, the session cookie, CSRF tokens, security headers and the HTML error pages.

Why this shape: pages are routes in each slice (node/<slice>/pages.py) beside its API routes, authorised
by the same `require(action)` and audited by the same middleware. The only difference from the API is
where the principal comes from: `page_session` (a router-level dependency of every page router, so it
runs before `require`) resolves the session cookie, which holds the same `alt_...` login token the API
uses, into `request.state.principal`, where `current_principal` finds it. Without a cookie a bearer
credential still works, so the route x role walk treats pages like the API.

A cookie is sent by the browser on its own, so every state-changing form carries a CSRF token (checked by
`check_csrf` for cookie sessions): SHA-256 of the session token for a logged-in user, a random
pre-session cookie for the login and language forms. Cookies are HttpOnly, SameSite=Strict and Secure
under TLS. The CSP allows scripts and styles from the node only (no inline code: htmx reads its
configuration from a meta tag and injects no styles).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.core.deps import get_ctx, resolve_principal, route_authenticated
from node.core.errors import Forbidden, Unauthorized

NODE_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = Path(__file__).resolve().parent / "static"
MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
# Template folders: the shared layout, then one per slice with pages (each holds a sub-folder named after
# its slice, so names never collide: "lending/inbox.html").
TEMPLATE_DIRS = [NODE_DIR / "core" / "templates", *sorted(p for p in NODE_DIR.glob("*/templates") if p.is_dir())]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
SESSION_COOKIE = "al_session"
CSRF_COOKIE = "al_csrf"  # the pre-session token of the login and language forms
LANG_COOKIE = "al_lang"
CSRF_FIELD = "csrf_token"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


# -- the message catalogue ------------------------------------------------------------------------------
@cache
def catalogue(lang: str) -> dict[str, str]:
    """{key: message} of one language (node/core/messages/<lang>.json)."""
    return json.loads((MESSAGES_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translate(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` (the default language's, then the key itself, if missing), with
    `{name}` placeholders filled."""
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text


def language_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


# -- templates ------------------------------------------------------------------------------------------
@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader([str(p) for p in TEMPLATE_DIRS]),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the page (and its test), never renders empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    return env


def format_time(value: str | datetime | None) -> str:
    """ISO time -> "2026-11-29 20:15 UTC" (the trail and loans are in UTC)."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A page: the template with the catalogue's `t()`, the caller, the CSRF token and the language."""
    lang = language_of(request)

    def t(key: str, **kw: Any) -> str:
        return translate(lang, key, **kw)

    def why(reason: str) -> str:
        """A reason code's message, or the generic one for a code the catalogue does not know."""
        known = f"reason.{reason}" in catalogue(lang) or f"reason.{reason}" in catalogue(DEFAULT_LANGUAGE)
        return t(f"reason.{reason}") if known else t("error.generic")

    principal = getattr(request.state, "principal", None)
    notice = request.query_params.get("notice")
    if notice not in catalogue(DEFAULT_LANGUAGE):  # only the node's own messages: no text from a crafted link
        notice = None
    context = {
        "t": t, "why": why, "lang": lang, "languages": LANGUAGES, "me": principal, "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD, "path": request.url.path, "notice": notice,
        **values,
    }  # fmt: skip
    body = environment().get_template(template).render(context)
    answer = HTMLResponse(body, status_code=status_code)
    answer.headers["cache-control"] = "no-store"
    fresh = getattr(request.state, "new_csrf", None)
    if fresh:
        set_cookie(request, answer, CSRF_COOKIE, fresh)
    return answer


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    """303 See Other (a form's POST becomes a GET of the next page); `notice` is a catalogue key shown there."""
    if notice:
        url += ("&" if "?" in url else "?") + "notice=" + quote(notice)
    return RedirectResponse(url, status_code=303)


def local_path(value: str | None, default: str = "/") -> str:
    """Only a path of this node (never "//host" or "https://..."): no open redirect through `next`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


# -- session and CSRF -----------------------------------------------------------------------------------
def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def start_session(request: Request, response: Response, token: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(CSRF_COOKIE, path="/")  # the pre-session token is done with


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def page_session(request: Request) -> None:
    """Router-level dependency of every page: marks the request as a page (HTML errors) and resolves the
    session cookie into the principal (`current_principal` then takes it). An expired or revoked
    session leaves no principal: the page answers with the login page."""
    request.state.web = True
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return
    try:
        request.state.principal = resolve_principal(get_ctx(request), token)
    except Unauthorized:
        request.state.session_expired = True
        return
    request.state.session_token = token


def csrf_token(request: Request) -> str:
    """The token forms carry: bound to the session, or the pre-session cookie (made on first use)."""
    session = getattr(request.state, "session_token", None)
    if session:
        return hashlib.sha256(b"archive-ledger csrf\0" + session.encode()).hexdigest()
    existing = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if existing:
        return existing
    request.state.new_csrf = secrets.token_urlsafe(32)
    return request.state.new_csrf


async def check_csrf(request: Request) -> None:
    """Router-level dependency of page routers (after `page_session`): a state-changing request of a
    cookie session, or an anonymous form, must carry the CSRF token; 403 `csrf_failed` otherwise (an
    audit event like any refusal). Requests with a bearer credential and no cookie carry no ambient
    authority and need none."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if getattr(request.state, "principal", None) is None and route_authenticated(request.scope.get("route")):
        return  # no session (none, expired, revoked): `require` answers 401 first, the browser goes to the login
    cookie_session = bool(request.cookies.get(SESSION_COOKIE))
    if not cookie_session and request.headers.get("authorization"):
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = None
    if getattr(request.state, "session_token", None):
        expected = csrf_token(request)
    else:  # an anonymous form (login, language), also with a dead session cookie
        expected = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again",
                        reason="csrf_failed")  # fmt: skip


# -- errors and headers ---------------------------------------------------------------------------------
def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """A refused or failed page: to the login page when there is no session (a browser), to the password
    form when it must be changed first, otherwise the error in the user's language."""
    if status == 401 and wants_html(request) and request.method in ("GET", "HEAD"):
        # (a refused form post gets the 401 page below: its audit event must say denied, not a redirect's ok)
        notice = "login.expired" if getattr(request.state, "session_expired", False) else None
        target = "/login?next=" + quote(local_path(request.url.path + (f"?{request.url.query}" if request.url.query
                                                                          else "")), safe="")  # fmt: skip
        answer: Response = redirect(target, notice)
        if getattr(request.state, "session_expired", False):
            end_session(answer)
        return answer
    if reason == "password_change_required" and wants_html(request):
        return redirect("/password")
    answer = render(request, "error.html", status_code=status, status=status, reason=reason)
    answer.headers.update(headers or {})
    if getattr(request.state, "session_expired", False):
        end_session(answer)
    return answer


def install(app: FastAPI) -> None:
    """Static files, security headers and HTML error pages for page requests (node/app.py calls this
    once, after adding the page routers; API requests keep their JSON errors)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for kind, api_handler in list(app.exception_handlers.items()):
        app.add_exception_handler(kind, _page_errors(api_handler))
    app.add_middleware(SecurityHeaders)


def _page_errors(api_handler: Any) -> Any:
    """The app's error handler (node/app.py: status, reason, the audit reason) with an HTML page instead of
    its JSON answer for page requests."""

    async def handler(request: Request, exc: Exception) -> Response:
        answer = await api_handler(request, exc)
        if not getattr(request.state, "web", False):
            return answer
        reason = json.loads(answer.body).get("error", "internal_error")
        retry = {"Retry-After": answer.headers["retry-after"]} if "retry-after" in answer.headers else None
        return error_page(request, answer.status_code, reason, retry)

    return handler


class SecurityHeaders:
    """Pure ASGI: the security headers on every HTML page and static file (the JSON API is unchanged)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if static or kind.startswith(b"text/html") or int(message["status"]) in (301, 302, 303, 307):
                    present = {k.lower() for k, _ in headers}
                    headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                                if k.encode() not in present]  # fmt: skip
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
