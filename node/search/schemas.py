"""Response models of search's parts of the API: the `extraction` section of GET /status."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer


class OcrStatus(Answer):
    available: bool
    languages: str
    message: str | None = Field(description="what to install when OCR is missing")


class ExtractionFailure(Answer):
    item_id: str
    status: str
    attempts: int
    message: str
    at: str | None


class ExtractionPass(Answer):
    started_at: str
    finished_at: str | None
    items: int
    done: int
    skipped: int
    failed: int
    retry: int = Field(description="node-side errors: still pending, tried again later")
    seconds: float
    complete: bool = Field(description="nothing was left pending when the pass ended")
    errors: list[dict[str, str]] = Field(description="the failures of this pass")


class ExtractionStatus(Answer):
    """Text extraction for search (issue 10): items per text status, OCR availability, recent failures."""

    enabled: bool
    interval_s: float
    total: int
    done: int
    pending: int
    skipped: int
    failed: int
    ocr: OcrStatus
    last_errors: list[ExtractionFailure]
    last_run: ExtractionPass | None
    last_error: str | None


class SearchHit(Answer):
    id: str
    reference_code: str | None = Field(description="档号")
    title: str = Field(description="题名")
    fonds: str = Field(description="全宗")
    year: int = Field(description="年度")
    category: str = Field(description="门类")
    retention: str = Field(description="保管期限")
    score: float | None = Field(description="relevance (None when sorted by date or 档号)")
    highlights: dict[str, str] = Field(
        description="field -> HTML with the matches in <mark> (the rest escaped); `text` only for callers who may "
        "read the item's content"
    )


class SearchAnswer(Answer):
    """GET /search: what the caller may see (permissions are part of the engine's query)."""

    total: int
    items: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(description="fonds, category, year, retention, classification, open")
