"""Shared set-up of the browser tests (issue 11): Debian's chromium driven by Playwright, one real node
server (`archive-ledger serve` on a real ganache) per test module with three people, three items of
fonds Z001 and a first anchored checkpoint, one browser context per person. Every page is checked for
Content-Security-Policy violations through `Site.csp_violations`.

A test module imports what it uses, fixtures included:

    from tests.helpers.browser import PASSWORD, Site, browser_type_launch_args, expect, log_in, person, site_fixture
    from tests.helpers.ganache_fixture import ganache_url  # the fixture `site` (site_fixture) needs

Set ARCHIVE_LEDGER_SCREENSHOTS=<dir> to keep screenshots of the main pages (`make screenshots`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.e2e_support import NodeServer, clean_env, init_node
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (module-scoped fixture)

playwright_api = pytest.importorskip("playwright.sync_api")
Browser, Page, expect = playwright_api.Browser, playwright_api.Page, playwright_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a long enough password 2027"
SHOTS = os.environ.get("ARCHIVE_LEDGER_SCREENSHOTS")


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Debian's chromium (Playwright's own browser download cannot work here), headless."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (`make setup` installs it as root)")
    return {
        "executable_path": CHROMIUM, "headless": True,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"],
    }  # fmt: skip


@dataclass
class Site:
    server: NodeServer
    url: str
    items: dict[str, str]  # name -> item id
    officer_passwords: dict[str, str]
    csp_violations: list[str] = field(default_factory=list)

    def api(self, username: str, password: str) -> httpx.Client:
        r = httpx.post(f"{self.url}/auth/login", json={"username": username, "password": password}, timeout=60)
        assert r.status_code == 200, r.text
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=60)


@pytest.fixture(scope="module", name="site")
def site_fixture(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("web-browser")
    env = clean_env(tmp)
    data = tmp / "node"
    init_node(data, ganache_url, env)
    server = NodeServer(data, env, tmp / "server.log").start()
    try:
        officers = {name: (data / "secrets" / "officers" / f"{name}.password").read_text().strip()
                    for name in ("sysadmin", "secadmin", "secauditor")}  # fmt: skip
        site = Site(server, server.url, {}, officers)
        sysadmin, secadmin = site.api("sysadmin", officers["sysadmin"]), site.api("secadmin", officers["secadmin"])
        people = {"alice": ("borrower", False), "carol": ("approver", False), "dora": ("borrower", True)}
        for name, (role, must_change) in people.items():
            r = sysadmin.post("/users", json={"username": name, "password": PASSWORD, "display_name": name.title(),
                                              "must_change_password": must_change})  # fmt: skip
            assert r.status_code == 201, r.text
            r = secadmin.post(f"/users/{name}/roles", json={"role": role, "password": officers["secadmin"]})
            assert r.status_code == 200, r.text
        api = server.client()
        for name in ("A", "B", "C"):
            meta = {"fonds": "Z001", "title": f"港务局文书 {name}", "category": "WS", "year": 2019, "retention": "30y"}
            files = {
                "metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
                "file": (f"{name}.txt", f"record {name}\n".encode() * 20, "text/plain"),
            }
            r = api.post("/items", files=files)
            assert r.status_code == 201, r.text
            site.items[name] = r.json()["id"]
        assert api.post("/anchor").status_code == 200
        yield site
    finally:
        server.stop()
        print(f"--- server log tail ({server.log_path})\n{server.log_tail()}")


def person(browser: Any, site: Site) -> Page:
    """A new browser context (its own cookies): one person at their own computer."""
    context = browser.new_context(base_url=site.url, locale="zh-CN")
    page = context.new_page()
    page.on("console", lambda m: site.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def indexed(site: Site, query: str, count: int) -> None:
    """Wait for the search index's scheduled catch-up to hold `count` items for `query`."""
    client = site.server.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get("/search", params={"q": query}).json()["total"] >= count:
            return
        time.sleep(0.5)
    pytest.fail(f"the search index never held {count} items for {query!r}")
