"""Search at the archive's scale (issue 10): index build items/s and size, query p50/p95 through HTTP.

A synthetic corpus, reproducible by seed: N items (default 340,000) with realistic catalogue metadata
(fonds, 门类, 年度, 保管期限, 档号, 题名, 责任者, 文号, 密级, date) and ~2 KB of Chinese text each,
made from a word list: the archive's own vocabulary (码头, 合同, 财务 ...) plus generated words over
the commonest characters, drawn with a Zipf-like skew so some words are frequent and most are rare.

The rows go straight into the node's tables (the index reads them the same way whatever wrote them;
ingesting 340,000 files over HTTP would measure ingest, not search). Then:
1. metadata reindex: `rebuild()` with no extracted texts (the issue's "full reindex of metadata");
2. the texts are added as item_texts rows (status done) and the full index is rebuilt (items/s, size);
3. `archive-ledger serve` on the data dir (search catch-up off, so nothing competes), and a fixed mix
   of queries (2-character words, phrases, field queries, filters, deep pages, sorts) through HTTP as
   the init API key (reads content: the heaviest, text included), each next to a /health round trip.

    .venv/bin/python bench/search.py [--items 340000] [--seed 10] [--rounds 5] [--update-results]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import CLI, _env, ganache, machine, pct, serve, table, update_results_section, verdict, workdir

COMMON_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定"
    "行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些"
    "然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公"
    "无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将"
    "组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金"
)  # fmt: skip
ARCHIVE_WORDS = [
    "码头",
    "合同",
    "财务",
    "审计",
    "港口",
    "调度",
    "通知",
    "报告",
    "会议",
    "纪要",
    "请示",
    "批复",
    "档案",
    "凭证",
    "账簿",
    "工程",
    "建设",
    "安全",
    "生产",
    "计划",
    "预算",
    "采购",
    "招标",
    "投标",
    "验收",
    "设备",
    "维修",
    "人员",
    "培训",
    "考核",
    "工资",
    "税务",
    "发票",
    "报表",
    "决算",
    "项目",
    "管理",
    "制度",
    "规定",
    "办法",
    "方案",
    "总结",
    "年度",
    "季度",
    "船舶",
    "货物",
    "集装箱",
    "装卸",
    "仓储",
    "运输",
    "航道",
    "泊位",
    "吞吐量",
    "海关",
    "检验",
    "环保",
    "消防",
    "应急",
    "演练",
    "事故",
    "调查",
    "整改",
    "审批",
    "备案",
    "协议",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国海波宁春燕晓东林"
FONDS = ["Z001", "Z002", "Z003", "A101", "A102", "B201", "B202", "C301"]
CATEGORIES = ["WS", "KJ", "RS", "JJ", "SB"]
RETENTIONS = ["permanent", "30y", "10y"]
CLASSIFICATIONS = ["公开", "内部", "普通商密", "秘密"]


class Corpus:
    """Items and texts from one seed (the same seed, the same corpus)."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        generated = {"".join(self.rnd.choice(COMMON_CHARS) for _ in range(self.rnd.choice((2, 2, 2, 3, 4))))
                     for _ in range(20_000)}  # fmt: skip
        rest = sorted(generated)
        self.rnd.shuffle(rest)
        # the archive's own words at ranks 40-110: common in this archive, not as common as function words
        self.vocab = rest[:40] + ARCHIVE_WORDS + rest[40:]
        self.names = [s + "".join(self.rnd.choice(GIVEN) for _ in range(self.rnd.choice((1, 2)))) for s in SURNAMES
                      for _ in range(6)]  # fmt: skip

    def word(self) -> str:
        # Zipf (s = 1): P(rank r) ~ 1/r, a few very common words and a long tail of rare ones
        return self.vocab[min(int(len(self.vocab) ** self.rnd.random()) - 1, len(self.vocab) - 1)]

    def sentence(self, chars: int) -> str:
        out, n = [], 0
        while n < chars:
            w = self.word()
            out.append(w)
            n += len(w)
            if self.rnd.random() < 0.1:
                out.append("，" if self.rnd.random() < 0.7 else "。")
        return "".join(out)

    def item(self, i: int) -> tuple[dict[str, Any], str]:
        r = self.rnd
        fonds, category, year = r.choice(FONDS), r.choice(CATEGORIES), r.randint(1990, 2025)
        retention = r.choice(RETENTIONS)
        code = f"{fonds}-{category}-{year}-{retention[:2].upper()}-{i:06d}"
        title = "关于" + self.sentence(r.randint(8, 20)) + r.choice(["的通知", "的请示", "的报告", "的批复", "合同"])
        extra = {
            "responsible": r.choice(self.names),
            "document_number": f"港{r.choice('发办函')}〔{year}〕{r.randint(1, 300)}号",
            "keywords": " ".join(self.word() for _ in range(3)), "classification": r.choice(CLASSIFICATIONS),
            "date": f"{year}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        }  # fmt: skip
        row = {"id": f"b{i:07d}", "fonds_code": fonds, "title": title, "category": category, "year": year,
               "retention": retention, "archival_code": code,
               "metadata_json": json.dumps({"fonds": fonds, "title": title, "category": category, "year": year,
                                            "retention": retention, "archival_code": code, "extra": extra},
                                           ensure_ascii=False)}  # fmt: skip
        return row, self.sentence(680)  # ~680 CJK characters: ~2 KB of UTF-8


def fill(data_dir: Path, n: int, seed: int) -> tuple[float, float]:
    """Insert N items (metadata only); returns (seconds, MB of text made for later)."""
    from sqlalchemy import insert

    from anchor.db import make_engine
    from anchor.models import Log
    from node.core.models import Item
    from node.core.settings import load_settings

    settings = load_settings(data_dir)
    engine = make_engine(settings.db_url)
    corpus = Corpus(seed)
    t0 = time.perf_counter()
    texts_path = data_dir / "bench-texts.jsonl"
    text_bytes = 0
    with engine.begin() as conn, open(texts_path, "w", encoding="utf-8") as texts:
        log_pk = conn.execute(insert(Log).values(log_id=b"\x01" * 32, fonds_code="BENCH", size=0)).inserted_primary_key[
            0
        ]
        batch = []
        for i in range(n):
            row, text = corpus.item(i)
            row.update(content_sha256=f"{i:064x}", size=2048, filename=None, source_path="", log_pk=log_pk,
                       leaf_index=i, created_at=datetime.now(UTC))  # fmt: skip
            batch.append(row)
            texts.write(json.dumps({"id": row["id"], "text": text}, ensure_ascii=False) + "\n")
            text_bytes += len(text.encode())
            if len(batch) == 5000:
                conn.execute(insert(Item), batch)
                batch = []
        if batch:
            conn.execute(insert(Item), batch)
    engine.dispose()
    return time.perf_counter() - t0, text_bytes / 1e6


def add_texts(data_dir: Path) -> float:
    from sqlalchemy import insert

    from anchor.db import make_engine
    from node.core.models import ItemText
    from node.core.settings import load_settings

    engine = make_engine(load_settings(data_dir).db_url)
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as conn, open(data_dir / "bench-texts.jsonl", encoding="utf-8") as texts:
        batch = []
        for line in texts:
            rec = json.loads(line)
            batch.append({"item_id": rec["id"], "status": "done", "method": "txt", "text": rec["text"],
                          "pages": 1, "ocr_pages": 0, "attempts": 1, "message": "", "queued_at": now,
                          "extracted_at": now})  # fmt: skip
            if len(batch) == 5000:
                conn.execute(insert(ItemText), batch)
                batch = []
        if batch:
            conn.execute(insert(ItemText), batch)
    engine.dispose()
    return time.perf_counter() - t0


def rebuild(data_dir: Path) -> tuple[int, float, int]:
    """(documents, seconds, index bytes)."""
    from anchor.db import make_engine, make_session_factory
    from node.core.settings import load_settings
    from node.search.service import SearchService

    engine = make_engine(load_settings(data_dir).db_url)
    service = SearchService(data_dir / "search", make_session_factory(engine),
                            make_session_factory(engine, readonly=True), heap_bytes=512_000_000)  # fmt: skip
    t0 = time.perf_counter()
    count = service.rebuild(batch=5000, threads=2)
    seconds = time.perf_counter() - t0
    generation = (data_dir / "search" / "CURRENT").read_text().strip()
    size = sum(p.stat().st_size for p in (data_dir / "search" / generation).rglob("*") if p.is_file())
    engine.dispose()
    return count, seconds, size


MIX: list[tuple[str, dict[str, Any]]] = [
    ("2-char word 码头", {"q": "码头"}),
    ("2-char word 合同", {"q": "合同"}),
    ("2-char word 审计", {"q": "审计"}),
    ("two words 码头 安全", {"q": "码头 安全"}),
    ('phrase "装卸设备"', {"q": '"装卸设备"'}),
    ('phrase "港口调度"', {"q": '"港口调度"'}),
    ("OR / NOT", {"q": "(财务 OR 审计) NOT 预算"}),
    ("field 题名:通知", {"q": "题名:通知"}),
    ("field 责任者 (a name)", {"q": "责任者:王伟"}),
    ("field 档号 prefix", {"q": "档号:Z001-WS-2015"}),
    ("field 文号", {"q": "文号:港发"}),
    ("filters: fonds+门类+年度", {"q": "合同", "fonds": "A101", "category": "KJ", "year_from": 2010, "year_to": 2015}),
    ("filter only: 保管期限", {"retention": "permanent", "fonds": "Z002"}),
    ("sort date", {"q": "报告", "sort": "date"}),
    ("sort 档号", {"q": "通知", "sort": "reference_code"}),
    ("deep page offset 5000", {"q": "管理", "offset": 5000}),
    ("deep page offset 10000", {"q": "工程", "offset": 10000}),
    ("no words (facets of all)", {}),
]


def serve_and_query(tmp: Path, data_dir: Path, rounds: int) -> tuple[list[tuple[str, float, float, int]], list, list]:
    import httpx

    jobs_off = {"ARCHIVE_LEDGER_ANCHOR_ENABLED": "false", "ARCHIVE_LEDGER_SEARCH_ENABLED": "false",
                "ARCHIVE_LEDGER_PRESERVATION_ENABLED": "false"}  # fmt: skip
    with serve(data_dir, tmp / "serve.log", jobs_off) as url:
        key = (data_dir / "secrets" / "api-key").read_text().strip()
        per_query: dict[str, list[float]] = {name: [] for name, _ in MIX}
        totals: dict[str, int] = {}
        all_search, all_health = [], []
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}) as http:
            for name, params in MIX:  # warm-up (first open of the index, page cache)
                r = http.get("/search", params=params)
                r.raise_for_status()
                totals[name] = r.json()["total"]
            for _ in range(rounds):
                for name, params in MIX:
                    t = time.perf_counter()
                    http.get("/health").raise_for_status()
                    all_health.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    http.get("/search", params=params).raise_for_status()
                    dt = time.perf_counter() - t
                    per_query[name].append(dt)
                    all_search.append(dt)
        rows = [(name, pct(per_query[name], 50) * 1000, pct(per_query[name], 95) * 1000, totals[name])
                for name, _ in MIX]  # fmt: skip
        return rows, all_search, all_health


def compare_fts5(n: int, seed: int) -> str:
    """The same documents and queries in tantivy (as the node indexes them) and in SQLite FTS5 over the same
    segmented text (bigram field, phrase MATCH, facets as GROUP BY over the match set), in one process."""
    import sqlite3
    import tempfile

    from node.search.index import Doc, Filters, TantivyIndex, Visibility, grams, words_for_search
    from node.search.query import parse

    corpus = Corpus(seed)
    docs = []
    for i in range(n):
        row, text = corpus.item(i)
        docs.append(Doc(id=row["id"], fonds=row["fonds_code"], category=row["category"], year=row["year"],
                        retention=row["retention"], title=row["title"], reference_code=row["archival_code"],
                        text=text))  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="search-fts5-"))
    t0 = time.perf_counter()
    index = TantivyIndex(tmp / "tantivy")
    index.add(docs, fresh=True)
    index.commit()
    tantivy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db = sqlite3.connect(tmp / "fts.db")
    db.execute("CREATE TABLE docs(id TEXT PRIMARY KEY, fonds TEXT, category TEXT, year INT, retention TEXT)")
    db.execute("CREATE VIRTUAL TABLE fts USING fts5(id UNINDEXED, meta_g, text_g, meta_w, text_w, "
               "tokenize='unicode61')")  # fmt: skip
    with db:
        for d in docs:
            db.execute("INSERT INTO docs VALUES (?,?,?,?,?)", (d.id, d.fonds, d.category, d.year, d.retention))
            db.execute("INSERT INTO fts VALUES (?,?,?,?,?)", (
                d.id, " ".join(grams(d.title + " " + d.reference_code)), " ".join(grams(d.text)),
                " ".join(words_for_search(d.title)), " ".join(words_for_search(d.text))))  # fmt: skip
    fts_s = time.perf_counter() - t0

    def fts_query(word: str) -> tuple[int, dict[str, int]]:
        phrase = '"' + " ".join(grams(word)) + '"'
        match = f"{{meta_g text_g}}: {phrase}"
        total = db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (match,)).fetchone()[0]
        db.execute("SELECT id FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 20", (match,)).fetchall()
        facets = {}
        for col in ("fonds", "category", "year", "retention"):
            facets[col] = dict(db.execute(
                f"SELECT d.{col}, count(*) FROM fts JOIN docs d ON d.id = fts.id WHERE fts MATCH ? GROUP BY 1",
                (match,)).fetchall())  # fmt: skip
        return total, facets

    rows = []
    for word in ("码头", "合同", "装卸设备", "港口调度"):
        t0 = time.perf_counter()
        for _ in range(5):
            hits = index.search(parse(f'"{word}"'), Filters(), Visibility(content_all=True))
        tq = (time.perf_counter() - t0) / 5 * 1000
        t0 = time.perf_counter()
        for _ in range(5):
            total, _facets = fts_query(word)
        fq = (time.perf_counter() - t0) / 5 * 1000
        assert total == hits.total, (word, total, hits.total)  # the same answers
        rows.append((word, f"{hits.total:,}", f"{tq:.1f}", f"{fq:.1f}"))
    size_t = sum(p.stat().st_size for p in (tmp / "tantivy").rglob("*") if p.is_file())
    size_f = (tmp / "fts.db").stat().st_size
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    head = table(["engine", "build items/s", "size"], [
        ("tantivy", f"{n / tantivy_s:,.0f}", f"{size_t / 1e6:,.1f} MB"),
        ("SQLite FTS5", f"{n / fts_s:,.0f}", f"{size_f / 1e6:,.1f} MB")])  # fmt: skip
    queries = table(["phrase (hits, facets of 4 fields, top 20)", "hits", "tantivy ms", "FTS5 ms"], rows)
    return f"tantivy vs SQLite FTS5 on {n:,} items of the same corpus, in one process:\n\n{head}\n\n{queries}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=340_000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the query mix")
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument("--compare-fts5", type=int, metavar="N", help="only compare tantivy and FTS5 on N items")
    args = parser.parse_args(argv)
    if args.compare_fts5:
        print(compare_fts5(args.compare_fts5, args.seed))
        return 0

    with workdir("search") as tmp, ganache(tmp) as rpc_url:
        data = tmp / "data"
        subprocess.run([*CLI, "init", "--data-dir", str(data), "--profile", "dev", "--rpc-url", rpc_url],
                       check=True, env=_env(), stdout=subprocess.DEVNULL)  # fmt: skip
        fill_s, text_mb = fill(data, args.items, args.seed)
        print(f"corpus: {args.items} items in {fill_s:.0f} s; {text_mb:.0f} MB of text", flush=True)
        meta_n, meta_s, meta_size = rebuild(data)
        print(f"metadata reindex: {meta_n} in {meta_s:.0f} s ({meta_n / meta_s:.0f} items/s)", flush=True)
        texts_s = add_texts(data)
        print(f"texts stored in {texts_s:.0f} s", flush=True)
        full_n, full_s, full_size = rebuild(data)
        print(f"full reindex: {full_n} in {full_s:.0f} s ({full_n / full_s:.0f} items/s)", flush=True)
        rows, searches, healths = serve_and_query(tmp, data, args.rounds)

    p50, p95 = pct(searches, 50) * 1000, pct(searches, 95) * 1000
    h50, h95 = pct(healths, 50) * 1000, pct(healths, 95) * 1000
    build = table(
        ["build", "items", "seconds", "items/s", "index size"],
        [("metadata only (no texts)", f"{meta_n:,}", f"{meta_s:.0f}", f"{meta_n / meta_s:,.0f}",
          f"{meta_size / 1e6:,.0f} MB"),
         ("metadata + ~2 KB text each", f"{full_n:,}", f"{full_s:.0f}", f"{full_n / full_s:,.0f}",
          f"{full_size / 1e6:,.0f} MB ({full_size / (text_mb * 1e6):.2f} x the text)")],
    )  # fmt: skip
    queries = table(["query (as the init key: text included)", "p50 ms", "p95 ms", "total hits"],
                    [(n, f"{a:.1f}", f"{b:.1f}", f"{t:,}") for n, a, b, t in rows])  # fmt: skip
    summary = table(
        ["figure", "target", "measured", "verdict"],
        [("query p95, whole mix", "<= 50 ms", f"{p95:.1f} ms (p50 {p50:.1f} ms); /health p50 {h50:.1f} ms, p95 "
          f"{h95:.1f} ms: p95 = {p95 / h95:.1f} x /health", verdict(p95 <= 50)),
         ("full reindex of metadata", "<= 10 min", f"{meta_s / 60:.1f} min", verdict(meta_s <= 600))],
    )  # fmt: skip
    body = (
        f"Machine: {machine()}; {args.items:,} items (seed {args.seed}), {text_mb:,.0f} MB of text, "
        f"{args.rounds} rounds of the mix ({len(searches)} searches).\n\n{summary}\n\n{build}\n\n{queries}\n"
    )
    print(body)
    if args.update_results:
        command = f".venv/bin/python bench/search.py --items {args.items} --seed {args.seed} --rounds {args.rounds}"
        update_results_section("## Search (bench/search.py)", body, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
