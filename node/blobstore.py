"""Content-addressed blob directory: a file is stored once, under the SHA-256 of its bytes.

A blob is written to a temporary file while it is hashed and only renamed to its address after
the last byte and an fsync, so a crash or a refused upload never leaves a half-written blob.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from node.errors import NotFound, UploadTooLarge

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BlobWriter:
    """Receives chunks, hashes them as they come, refuses to grow past `max_bytes`."""

    def __init__(self, store: BlobStore, max_bytes: int) -> None:
        self._store = store
        self._max = max_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._path = Path(name)
        self._closed = False
        self.created = False  # commit() put a new blob in place (it did not exist before)

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            self.discard()
            raise UploadTooLarge(f"file exceeds the node's upload limit of {self._max} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> str:
        """Make the blob durable under its address; returns the hex SHA-256."""
        digest = self.sha256
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._closed = True
        target = self._store.path_for(digest)
        if target.exists():
            self._path.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, target)
            self.created = True
        return digest

    def discard(self) -> None:
        if not self._closed:
            self._file.close()
            self._closed = True
        self._path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def writer(self, max_bytes: int) -> BlobWriter:
        return BlobWriter(self, max_bytes)

    def path_for(self, sha256_hex: str) -> Path:
        if not _HEX64.match(sha256_hex):
            raise ValueError(f"not a SHA-256 hex digest: {sha256_hex!r}")
        return self.root / sha256_hex[:2] / sha256_hex[2:4] / sha256_hex

    def open(self, sha256_hex: str):  # type: ignore[no-untyped-def]
        path = self.path_for(sha256_hex)
        if not path.exists():
            raise NotFound(f"blob {sha256_hex} is missing from the blob store", reason="blob_missing")
        return path.open("rb")

    def exists(self, sha256_hex: str) -> bool:
        return self.path_for(sha256_hex).exists()

    def remove(self, sha256_hex: str) -> None:
        """Delete a blob (one no item row refers to: a refused or failed upload's)."""
        self.path_for(sha256_hex).unlink(missing_ok=True)

    def clean_tmp(self) -> int:
        """Remove uploads a crash left behind; called at start."""
        return clean_dir(self.tmp_dir)


def clean_dir(directory: Path) -> int:
    """Empty a temporary directory (not following links); returns how many entries went."""
    if not directory.is_dir():
        return 0
    removed = 0
    for leftover in directory.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed += 1
    return removed
