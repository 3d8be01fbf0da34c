"""A lying JSON-RPC witness for tests: forwards every request to a real node and lets a hook rewrite
the answers (e.g. one endpoint's `eth_call` results), so split-view detection runs against a real chain.

    with LyingProxy(ganache_url, rewrite=lambda req, result: ...) as url: ...

`rewrite(request, result)` gets each call of a (batch) request and the upstream result and returns
the result to send (return `result` unchanged to pass it through).
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

Rewrite = Callable[[dict, Any], Any]


class LyingProxy:
    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream, self.rewrite = upstream, rewrite
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}, method="POST"
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    replies = json.loads(response.read())
                calls = json.loads(body)
                single = isinstance(calls, dict)
                calls, replies = ([calls], [replies]) if single else (calls, replies)
                by_id = {c["id"]: c for c in calls}
                for reply in replies:
                    if "result" in reply:
                        reply["result"] = proxy.rewrite(by_id[reply["id"]], reply["result"])
                out = json.dumps(replies[0] if single else replies).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def lie_about_roots(root_hex: str) -> Rewrite:
    """A rewrite that answers every rootAt(bytes32,uint64) call with `root_hex` (64 hex, no 0x)."""
    selector = "0x930b6ace"

    def rewrite(call: dict, result: Any) -> Any:
        if call.get("method") == "eth_call" and str(call["params"][0].get("data", "")).startswith(selector):
            return "0x" + root_hex
        return result

    return rewrite
