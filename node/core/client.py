"""HTTP client for a running node, used by the integrator CLI (so it works from another machine)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Literal

import httpx

from node.core.errors import NodeRequestError, UnsafeSecretFile

API_KEY_ENV = "ARCHIVE_LEDGER_API_KEY"


def read_api_key(path: Path | None) -> str | None:
    """The API key from $ARCHIVE_LEDGER_API_KEY, else from a file only its owner may read."""
    if os.environ.get(API_KEY_ENV):
        return os.environ[API_KEY_ENV].strip()
    if path is None or not path.exists():
        return None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafeSecretFile(f"API key file {path} is readable by others: run `chmod 600 {path}`")
    return path.read_text(encoding="utf-8").strip()


TOKEN_FILE_ENV = "ARCHIVE_LEDGER_TOKEN_FILE"


def default_token_file() -> Path:
    """Where `archive-ledger login` keeps the bearer token: $ARCHIVE_LEDGER_TOKEN_FILE, else
    ~/.config/archive-ledger/token."""
    if os.environ.get(TOKEN_FILE_ENV):
        return Path(os.environ[TOKEN_FILE_ENV])
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "archive-ledger" / "token"


def read_token(token_file: Path | None = None) -> str | None:
    """The token of `archive-ledger login` (a file only its owner may read), if there is one."""
    token_file = token_file or default_token_file()
    if not token_file.exists():
        return None
    if token_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafeSecretFile(f"token file {token_file} is readable by others: run `chmod 600 {token_file}`")
    return token_file.read_text(encoding="utf-8").strip() or None


def read_credential(key_file: Path | None, token_file: Path | None = None) -> str | None:
    """Integrators' commands: an API key ($ARCHIVE_LEDGER_API_KEY or the key file), else a login token."""
    return read_api_key(key_file) or read_token(token_file)


def save_token(path: Path, token: str) -> None:
    """Write the login token to a 0600 file (its directory 0700), replacing an older one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _raise_for_status(response: httpx.Response) -> None:
    """A 4xx/5xx answer as NodeRequestError with the node's reason and detail."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
        reason, detail = body.get("error"), body.get("detail", response.text)
    except ValueError:
        reason, detail = None, response.text
    status = response.status_code
    raise NodeRequestError(f"node answered {status}: {detail}", status=status, reason=reason)


class NodeClient:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 300.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise NodeRequestError(f"cannot reach the node at {self.base_url}: {exc}") from exc
        _raise_for_status(response)
        return response

    def ingest(self, stream: BinaryIO, filename: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Upload one file; httpx streams the file object in chunks."""
        files = {
            "metadata": (None, json.dumps(metadata, ensure_ascii=False).encode("utf-8"), "application/json"),
            "file": (filename, stream, "application/octet-stream"),
        }
        return self._call("POST", "/items", files=files).json()

    def file_package(self, zip_path: Path, name: str | None = None) -> dict[str, Any]:
        """POST /packages with the ZIP streamed from disk. A package rejected by the checks (422
        `package_rejected`) is an answer, not an error: its body is returned with status REJECTED."""
        try:
            with zip_path.open("rb") as fh:
                response = self.http.post(
                    "/packages", content=_chunks(fh), params={"name": name} if name else None,
                    headers={"Content-Type": "application/zip"},
                )  # fmt: skip
        except httpx.HTTPError as exc:
            raise NodeRequestError(f"cannot reach the node at {self.base_url}: {exc}") from exc
        if response.status_code == 422:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if body.get("error") == "package_rejected":
                return body
        _raise_for_status(response)
        return response.json()

    def find_items(self, **filters: Any) -> dict[str, Any]:
        return self._call("GET", "/items", params={k: v for k, v in filters.items() if v is not None}).json()

    def item(self, item_id: str) -> dict[str, Any]:
        return self._call("GET", f"/items/{item_id}").json()

    def proof(self, item_id: str, against: str = "first") -> dict[str, Any]:
        return self._call("GET", f"/items/{item_id}/proof", params={"against": against}).json()

    def download(self, item_id: str, target: BinaryIO) -> None:
        try:
            with self.http.stream("GET", f"/items/{item_id}/content") as response:
                if response.status_code >= 400:
                    response.read()
                    raise NodeRequestError(f"node answered {response.status_code}: {response.text}",
                                           status=response.status_code)  # fmt: skip
                for chunk in response.iter_bytes(1 << 20):
                    target.write(chunk)
        except httpx.HTTPError as exc:
            raise NodeRequestError(f"cannot reach the node at {self.base_url}: {exc}") from exc

    def anchor(self) -> dict[str, Any]:
        return self._call("POST", "/anchor").json()

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/status").json()

    def checkpoints(self) -> dict[str, Any]:
        return self._call("GET", "/checkpoints").json()

    def verify(self, bundle: dict[str, Any], content_sha256: str | None, certificate: bool) -> dict[str, Any]:
        body = {"bundle": bundle, "content_sha256": content_sha256, "certificate": certificate}
        return self._call("POST", "/verify", json=body).json()

    def call_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Any JSON route (users, audit, ...): the parsed answer, NodeRequestError on 4xx/5xx."""
        return self._call(method, url, **kwargs).json()

    def call_text(self, method: str, url: str, **kwargs: Any) -> str:
        return self._call(method, url, **kwargs).text

    def verifier_key(self) -> str:
        return self._call("GET", "/verifier/key").json()["public_key"]


def _chunks(fh: BinaryIO, size: int = 1 << 20) -> Any:
    while chunk := fh.read(size):
        yield chunk


def zip_directory(directory: Path, target: Path) -> Path:
    """Zip a package directory (stored, not compressed: archival formats are compressed already)."""
    import zipfile

    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                zf.write(path, path.relative_to(directory).as_posix())
    return target


Caller = Literal["anonymous", "integrator", "integrator_or_login", "person"]


def node_client(
    node: str,
    caller: Caller = "anonymous",
    *,
    api_key_file: Path | None = None,
    token: str | None = None,
    token_file: Path | None = None,
) -> NodeClient:
    """The one way the CLI builds a node client; `caller` says which credential it presents:

    - anonymous: `token` if given, else none (proofs, login);
    - integrator: the API key ($ARCHIVE_LEDGER_API_KEY or the key file);
    - integrator_or_login: the API key, else the token of `archive-ledger login` (filing);
    - person: --token, else the login token, else the API key if its file exists (people's commands)."""
    if caller == "integrator":
        credential = read_api_key(api_key_file)
    elif caller == "integrator_or_login":
        credential = read_credential(api_key_file, token_file)
    elif caller == "person":
        key_file = api_key_file if api_key_file is not None and api_key_file.exists() else None
        credential = token or read_token(token_file) or read_api_key(key_file)
    else:
        credential = token
    return NodeClient(node, credential)
