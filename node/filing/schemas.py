"""Response models of the transfer-package routes and the four-properties check reports."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from node.core.schemas import Answer, OpenObject


class CheckResult(Answer):
    code: str = Field(description="e.g. AUTH-HASH, SEC-VIRUS")
    family: str
    outcome: str = Field(description="pass, warn, fail or skip")
    message: str
    details: OpenObject | None = None


class ItemReport(Answer):
    """One item's checks; `digest` (SHA-256 of the RFC 8785 bytes without it) is `checks_sha256` in its record."""

    v: int
    path: str
    sha256: str | None
    size: int | None
    format: str | None
    outcome: str
    results: list[CheckResult]
    digest: str | None = None


class ReportSummary(Answer):
    items: int
    bytes: int
    items_failed: int
    results: dict[str, int] = Field(description="count per outcome")


class PackageReport(Answer):
    v: int
    package: str
    outcome: str
    summary: ReportSummary
    process: OpenObject = Field(description="how the checks were run: who, when, where, with which tools")
    results: list[CheckResult]
    items: list[ItemReport]
    blocking: list[dict[str, str]] | None = None


class PackageItem(Answer):
    id: str
    archival_code: str | None
    source_path: str
    content_sha256: str


class PackageSummary(Answer):
    id: str
    name: str
    status: str = Field(description="FILED or REJECTED")
    digest: str
    fonds: list[str]
    item_count: int
    total_bytes: int
    report_sha256: str
    submitted_by: str | None
    source_ip: str | None
    created_at: str


class PackageView(PackageSummary):
    """GET /packages/{id}: the package, its report and its items."""

    report: PackageReport
    items: list[PackageItem]


class FiledPackage(PackageView):
    """POST /packages: 201 filed, 200 the same package filed before (`duplicate: true`)."""

    duplicate: bool


class PackageList(Answer):
    total: int
    packages: list[PackageSummary]


class ItemChecks(Answer):
    item_id: str
    package_id: str
    digest: str = Field(description="checks_sha256 in the item's record")
    report: ItemReport


TEXT_REPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "the report (`?format=text`)"}
}


class FilingJobView(Answer):
    """A package checked and filed in the background (`POST /packages?async=true`, the web UI's filing page)."""

    id: str
    status: str = Field(description="QUEUED, RUNNING, DONE (filed or rejected: see the package) or FAILED")
    stage: str = Field(description="queued, opening, checking, filing or done")
    name: str
    size: int = Field(description="bytes received")
    items_total: int
    items_checked: int
    package_id: str | None = Field(description="the package (GET /packages/{id}: its status and report), when done")
    duplicate: bool = Field(description="the same package was filed before: package_id is the original")
    reason: str | None = Field(description="a FAILED job's reason code (e.g. package_unreadable, job_interrupted)")
    message: str | None
    submitted_by: str
    created_at: str
    updated_at: str | None
    finished_at: str | None
    finished: bool


REFILED_PACKAGE: dict[int | str, dict[str, Any]] = {
    200: {"model": FiledPackage, "description": "The same package was filed before: the original (`duplicate: true`)"},
    202: {"model": FilingJobView, "description": "`async=true`: stored and queued; poll GET /packages/jobs/{id}"},
}
