"""CLI: volumes, boxes, items move/edit, preservation run/alerts, and alerts in `status` (over HTTP)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.people import PEOPLE_PASSWORD, People


@pytest.fixture
def server(node_ctx):  # type: ignore[no-untyped-def]
    import uvicorn

    from node.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(node_ctx, scheduler=False), host="127.0.0.1", port=port,
                                        log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_cli_arrangement_edit_and_preservation(  # type: ignore[no-untyped-def]
    server: str, api, people: People, node_ctx, node_data: Path, tmp_path: Path, monkeypatch
) -> None:
    from cli import app
    from tests.helpers.arrangement import ingest

    runner = CliRunner()
    token_file = tmp_path / "token"
    monkeypatch.setenv("ARCHIVE_LEDGER_PASSWORD", PEOPLE_PASSWORD)
    assert runner.invoke(app, ["login", "archivist", "--node", server, "--token-file", str(token_file)]).exit_code == 0
    monkeypatch.setenv("ARCHIVE_LEDGER_TOKEN", token_file.read_text().strip())
    common = ["--node", server, "--api-key-file", str(tmp_path / "no-key")]

    def cli(*args: str) -> tuple[int, str]:
        r = runner.invoke(app, [*args, *common])
        return r.exit_code, r.output

    code, out = cli("boxes", "create", "H-9", "--storeroom", "二号库房", "--shelf", "C-2", "--json")
    assert code == 0, out
    box = json.loads(out)
    code, out = cli("volumes", "create", "2024年合同", "--category", "WS", "--year", "2024", "--retention", "30y",
                    "--code", "Z001-WS·2024-D30-J007", "--box", box["id"], "--json")  # fmt: skip
    assert code == 0, out
    volume = json.loads(out)
    item = ingest(api, b"a contract", retention="30y")
    code, out = cli("items", "move", item["id"], "--volume", volume["id"])
    assert code == 0 and "Z001-WS·2024-D30-J007" in out and "H-9" in out, out
    code, out = cli("items", "edit", item["id"], "--set", "title=合同（修订）", "--set", "extra.pages=3",
                    "--reason", "更正")  # fmt: skip
    assert code == 0 and "metadata version 2" in out, out
    versions = api.get(f"/items/{item['id']}/versions").json()["versions"]
    assert versions[1]["metadata"]["title"] == "合同（修订）" and versions[1]["metadata"]["extra"] == {"pages": 3}
    code, out = cli("volumes", "show", volume["id"])
    assert code == 0 and "合同（修订）" in out and "[1 item(s)]" in out, out
    code, out = cli("volumes", "list", "--fonds", "Z001")
    assert code == 0 and "1 volume(s)" in out
    code, out = cli("boxes", "list")
    assert code == 0 and "H-9" in out and "二号库房" in out

    code, out = cli("preservation", "run", "--from-start")
    assert code == 0 and "1 item(s)" in out, out
    node_ctx.blobs.path_for(item["content_sha256"]).write_bytes(b"a forged contract")
    code, out = cli("preservation", "run", "--from-start")
    assert code == 1 and "content_mismatch" in out, out
    code, out = cli("preservation", "alerts")
    assert code == 1 and "OPEN" in out and item["id"] in out
    r = runner.invoke(app, ["status", "--node", server, "--api-key-file", str(node_data / "secrets" / "api-key")])
    assert r.exit_code == 0 and "ALERTS: 1 open preservation alert(s)" in r.output and item["id"] in r.output, r.output
