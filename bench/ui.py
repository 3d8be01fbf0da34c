"""Web UI server time per page at the archive's scale (issue 11): p95 <= 300 ms with 340,000 items.

A real node (`archive-ledger serve` on a real ganache) whose tables hold the archive's scale: N catalogue
items (default 340,000, the search benchmark's synthetic corpus, bench/search.py) with their metadata
index, one audit event per item (the trail of their filing) and M loans over three years (default
20,000, all statuses). The rows go straight into the tables (filing 340,000 files over HTTP would measure
filing, not pages); the people, a few real loans (requested, approved with the approver's key on chain)
and the first checkpoint go through the node as usual.

Each person logs in through the login form (session cookie) and opens their pages; every page request is
timed next to a `/health` round trip on the same connection, so the figure is also given as a ratio to
what the HTTP stack alone costs in the same run. A page the node does not serve (404) is reported as
absent, never timed.

    .venv/bin/python bench/ui.py [--items 340000] [--loans 20000] [--rounds 20] [--update-results]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import CLI, _env, ganache, machine, pct, serve, table, update_results_section, verdict, workdir
from search import fill, rebuild

PASSWORD = "a long enough password 2027"
PEOPLE = {"alice": "borrower", "carol": "approver", "arnold": "archivist", "audrey": "auditor"}
TARGET_MS = 300.0
N_BORROWERS = 500


def pages(lent: tuple[str, str]) -> dict[str, list[str]]:
    """username -> the pages that person opens (with query parameters as the pages' own links make them).
    `lent` = (loan id, item id) of a real PDF lent to alice: the item pages are of it (the synthetic catalogue
    rows have no records in a Merkle log, which an item page shows)."""
    loan_id, pdf_id = lent
    return {
        "alice": ["/", "/my-loans", "/my-loans/new", "/my-loans/new?q=码头", "/profile", "/find?q=码头",
                  "/find?q=合同&fonds=A101",
                  "/find?fonds=A101&year_from=2015&year_to=2015", "/browse", "/browse/A101", f"/records/{pdf_id}",
                  "/cart", f"/my-loans/{loan_id}/items/{pdf_id}",
                  f"/my-loans/{loan_id}/items/{pdf_id}/pages/1.png"],  # an image (pdftoppm + watermark), not a page
        "carol": ["/", "/inbox"],
        "arnold": ["/", "/filing", "/arrange", "/preservation-alerts", f"/arrange/items/{pdf_id}/metadata"],
        "audrey": ["/", "/checkpoint-log", "/checkpoint-log?fonds=A101", "/verify-record", "/statistics"],
        "secauditor": ["/", "/audit-trail", "/audit-trail?actor=alice", "/audit-trail?action=items:file&outcome=ok",
                       "/audit-trail?action=loans:decide", "/statistics", "/verify-record"],
        "sysadmin": ["/", "/accounts", "/keys", "/officer-changes"],
        "secadmin": ["/", "/roles", "/password-resets", "/officer-changes", "/statistics"],
    }  # fmt: skip


def bulk_trail_and_loans(data_dir: Path, n_loans: int, seed: int) -> tuple[int, int]:
    """One audit event per item (their filing), 500 more borrowers and `n_loans` loans of theirs and alice's
    over three years, straight into
    the tables. The events are neither chained nor sealed into a log (given a leaf index, so the node's
    sealer leaves them alone): the trail's verification is not what this measures."""
    from sqlalchemy import func, insert, select

    from anchor.db import make_engine
    from node.core.models import AuditEvent, Item, Loan, LoanItem, LoanStatus, User, UserRole
    from node.core.settings import load_settings

    rng = random.Random(seed)
    engine = make_engine(load_settings(data_dir).db_url)
    with engine.begin() as conn:
        seq = conn.execute(select(func.max(AuditEvent.seq))).scalar() or 0
        users = dict(conn.execute(select(User.username, User.id)).all())
        rows = conn.execute(select(Item.id, Item.fonds_code, Item.created_at)).all()
        batch: list[dict] = []
        for item_id, fonds, created in rows:
            seq += 1
            batch.append({"id": uuid.uuid4().hex, "seq": seq, "time": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                          "principal_kind": "user",
                          "principal_id": users["arnold"], "principal_name": "arnold", "action": "items:file",
                          "target": f"/items/{item_id}", "outcome": "ok", "source_ip": "10.0.0.8",
                          "details_json": "{}", "fonds": fonds, "log_fonds": f"{fonds}/audit", "leaf_index": seq,
                          "prev_hash": "0" * 64, "hash": "0" * 64})  # fmt: skip
            if len(batch) == 5000:
                conn.execute(insert(AuditEvent), batch)
                batch = []
        if batch:
            conn.execute(insert(AuditEvent), batch)
        # the borrowers of 70 subsidiaries: accounts that cannot log in ("!" is no argon2 hash), borrower role
        borrowers = [users["alice"]]
        people = [{"id": uuid.uuid4().hex, "username": f"reader{i:04d}", "display_name": f"读者 {i}",
                   "password_hash": "!", "created_at": datetime.now(UTC)} for i in range(N_BORROWERS)]  # fmt: skip
        conn.execute(insert(User), people)
        conn.execute(insert(UserRole), [{"user_id": p["id"], "role": "borrower", "granted_at": datetime.now(UTC)}
                                        for p in people])  # fmt: skip
        borrowers += [p["id"] for p in people]
        start = datetime.now(UTC) - timedelta(days=3 * 365)
        statuses = [LoanStatus.RETURNED] * 6 + [LoanStatus.EXPIRED] * 2 + [LoanStatus.REJECTED, LoanStatus.REVOKED]
        loans, loan_items = [], []
        for _ in range(n_loans):
            loan_id = uuid.uuid4().hex
            requested = start + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
            decided = requested + timedelta(minutes=rng.randrange(5, 3 * 24 * 60))
            loans.append({"id": loan_id, "borrower_id": rng.choice(borrowers), "purpose": "编史修志",
                          "not_before": decided,
                          "expires_at": decided + timedelta(days=14), "status": rng.choice(statuses), "reason": None,
                          "requested_at": requested, "decided_at": decided, "decided_by": users["carol"],
                          "approver_address": None, "ended_at": decided + timedelta(days=7),
                          "ended_by": None})  # fmt: skip
            for item_id in {rows[rng.randrange(len(rows))][0] for _ in range(rng.randint(1, 3))}:
                loan_items.append({"loan_id": loan_id, "item_id": item_id, "medium": "digital"})
        for i in range(0, len(loans), 5000):
            conn.execute(insert(Loan), loans[i : i + 5000])
        for i in range(0, len(loan_items), 5000):
            conn.execute(insert(LoanItem), loan_items[i : i + 5000])
    engine.dispose()
    return len(rows), n_loans


def web_login(url: str, username: str, password: str) -> httpx.Client:
    """A browser's session: the login form's pre-session CSRF token, then the session cookie."""
    client = httpx.Client(base_url=url, timeout=120, headers={"Accept": "text/html"})
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "no CSRF token on the login page"
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": token.group(1)})
    assert r.status_code == 303 and "al_session" in client.cookies, (username, r.status_code, r.text[:300])
    return client


def real_loans(url: str, api_key: str, item_ids: list[str]) -> tuple[str, str]:
    """A real PDF filed through the API and three loans of alice's (the first, of the PDF and a catalogue
    item, approved by carol with her key on chain), so the inbox, my loans, the reader and the trail hold live
    rows too; returns (the approved loan's id, the PDF's item id)."""
    from tests.helpers.checks_builders import pdf_bytes

    api = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {api_key}"})
    meta = {"fonds": "A101", "title": "码头调度报告", "category": "WS", "year": 2015, "retention": "30y"}
    files = {"metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
             "file": ("report.pdf", pdf_bytes(pages=3, text="dock report"), "application/pdf")}  # fmt: skip
    r = api.post("/items", files=files)
    r.raise_for_status()
    pdf_id = r.json()["id"]
    api.post("/anchor").raise_for_status()
    tokens = {}
    for name in ("alice", "carol"):
        r = httpx.post(f"{url}/auth/login", json={"username": name, "password": PASSWORD}, timeout=60)
        r.raise_for_status()
        tokens[name] = r.json()["token"]
    alice = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {tokens['alice']}"})
    carol = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {tokens['carol']}"})
    ids = []
    for items in ([pdf_id, item_ids[0]], [item_ids[1]], [item_ids[2]]):
        r = alice.post("/loans", json={"items": items, "purpose": "港口史研究", "days": 14})
        r.raise_for_status()
        ids.append(r.json()["id"])
    r = carol.post(f"/loans/{ids[0]}/approve", json={"password": PASSWORD})
    r.raise_for_status()
    return ids[0], pdf_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=340_000)
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=20, help="times each page is opened")
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (data, serve.log)")
    args = parser.parse_args(argv)

    from tests.helpers.e2e_support import clean_env, create_people

    with workdir("ui", keep=args.keep) as tmp, ganache(tmp) as rpc_url:
        data = tmp / "data"
        subprocess.run([*CLI, "init", "--data-dir", str(data), "--profile", "dev", "--rpc-url", rpc_url],
                       check=True, env=_env(), stdout=subprocess.DEVNULL)  # fmt: skip
        fill_s, _ = fill(data, args.items, args.seed)
        print(f"catalogue: {args.items:,} items in {fill_s:.0f} s", flush=True)
        n_index, index_s, _ = rebuild(data)
        print(f"metadata index: {n_index:,} in {index_s:.0f} s", flush=True)
        jobs_off = ("ANCHOR", "SEARCH", "PRESERVATION", "EXTRACTION")  # nothing competes with the pages
        with serve(data, tmp / "serve.log", {f"ARCHIVE_LEDGER_{job}_ENABLED": "false" for job in jobs_off}) as url:
            create_people(url, data, clean_env(tmp), tmp, PEOPLE, PASSWORD)
            n_events, n_loans = bulk_trail_and_loans(data, args.loans, args.seed)
            print(f"trail: {n_events:,} events, {n_loans:,} loans written", flush=True)
            api_key = (data / "secrets" / "api-key").read_text().strip()
            api = httpx.Client(base_url=url, timeout=600, headers={"Authorization": f"Bearer {api_key}"})
            item_ids = [i["id"] for i in api.get("/items", params={"limit": 5}).json()["items"]]
            lent = real_loans(url, api_key, item_ids)
            officers = {n: (data / "secrets" / "officers" / f"{n}.password").read_text().strip()
                        for n in ("sysadmin", "secadmin", "secauditor")}  # fmt: skip
            timings: dict[tuple[str, str], list[float]] = {}
            healths: list[float] = []
            absent: list[tuple[str, str, int]] = []
            first: dict[tuple[str, str], float] = {}
            for who, paths in pages(lent).items():
                client = web_login(url, who, officers.get(who, PASSWORD))
                for path in paths:
                    t = time.perf_counter()
                    r = client.get(path)  # the first view (caches cold), and is the page there?
                    first[(who, path)] = time.perf_counter() - t
                    if r.status_code != 200:
                        absent.append((who, path, r.status_code))
                        continue
                    for _ in range(args.rounds):
                        t = time.perf_counter()
                        client.get("/health").raise_for_status()
                        healths.append(time.perf_counter() - t)
                        t = time.perf_counter()
                        client.get(path).raise_for_status()
                        timings.setdefault((who, path), []).append(time.perf_counter() - t)
                client.close()

    # the pages (HTML); the reader's watermarked page images are shown per row but are not pages
    every = [t for (_, path), ts in timings.items() if not path.endswith(".png") for t in ts]
    p50, p95, h95 = pct(every, 50) * 1000, pct(every, 95) * 1000, pct(healths, 95) * 1000
    worst = max(((k, ts) for k, ts in timings.items() if not k[1].endswith(".png")), key=lambda kv: pct(kv[1], 95))
    rows = [(who, path, f"{first[(who, path)] * 1000:.0f}", f"{pct(ts, 50) * 1000:.1f}", f"{pct(ts, 95) * 1000:.1f}",
             f"{pct(ts, 95) * 1000 / h95:.0f} x", verdict(pct(ts, 95) * 1000 <= TARGET_MS))
            for (who, path), ts in timings.items()]  # fmt: skip
    per_page = table(["person", "page", "first view ms", "p50 ms", "p95 ms", "p95 / /health p95", "<= 300 ms"], rows)
    summary = table(
        ["figure", "target", "measured", "verdict"],
        [("page p95, every page", f"<= {TARGET_MS:.0f} ms", f"{p95:.1f} ms (p50 {p50:.1f} ms); /health p95 "
          f"{h95:.1f} ms: {p95 / h95:.0f} x /health", verdict(p95 <= TARGET_MS)),
         ("slowest page p95", f"<= {TARGET_MS:.0f} ms", f"{pct(worst[1], 95) * 1000:.1f} ms ({worst[0][1]})",
          verdict(pct(worst[1], 95) * 1000 <= TARGET_MS))],
    )  # fmt: skip
    missing = "".join(f"\n- {who} {path}: {status}" for who, path, status in absent)
    body = (
        f"Machine: {machine()}; {args.items:,} items (seed {args.seed}), {n_events:,} audit events, "
        f"{n_loans:,} loans; {args.rounds} rounds per page ({len(every)} page requests).\n\n{summary}\n\n{per_page}\n"
        + (f"\nPages not served (status):{missing}\n" if absent else "")
    )
    print(body)
    if args.update_results:
        command = f".venv/bin/python bench/ui.py --items {args.items} --loans {args.loans} --rounds {args.rounds}"
        update_results_section("## Web UI pages (bench/ui.py)", body, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
