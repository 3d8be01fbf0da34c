"""Bounded request types shared by every route (docs/design.md, "Limits"). Why: an unbounded integer
reaches SQLite (OverflowError over 2**63 - 1), `timedelta` (OverflowError) or RFC 8785 (which refuses
integers over 2**53 and non-finite floats), each a 500; and pydantic's lax mode takes `0` or "yes"
for a boolean. These types refuse such input with 422 `invalid_input` before any handler runs."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, StrictBool

MAX_DB_INT = 2**63 - 1  # SQLite's INTEGER
MAX_SAFE_INT = 2**53 - 1  # the largest integer RFC 8785 (and JavaScript) represents exactly
MAX_OFFSET = 10**9  # no list has a billion rows: a larger offset is a mistake, not a page
MIN_YEAR, MAX_YEAR = 1000, 2999  # archival years (item and volume metadata take the same range)
MIN_TIME_YEAR, MAX_TIME_YEAR = 1970, 2999  # request timestamps (loan periods)
MAX_LOAN_DAYS = 36_500.0  # the node's own period limit (loan_max_period_s) is far below


def _json_scalar(value: Any) -> Any:
    """A metadata value the ledger can hash: integers within +-(2**53 - 1), finite floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
        raise ValueError(f"integers must be within +-{MAX_SAFE_INT} (2**53 - 1); send larger numbers as text")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    return value


def _json_safe_tree(value: Any) -> Any:
    """Every number in a JSON value within what RFC 8785 canonicalises (a proof bundle is hashed and
    signed into a certificate). Iterative: depth is already bounded by the body parser."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            _json_scalar(node)
    return value


def _strict_query_bool(value: Any) -> Any:
    """`true`/`false` only (any case): `0`, `1`, `yes`, `on` are not booleans."""
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError("a boolean is true or false")
    return value


def _sane_time(value: datetime | None) -> datetime | None:
    if value is not None and not MIN_TIME_YEAR <= value.year <= MAX_TIME_YEAR:
        raise ValueError(f"times must lie between the years {MIN_TIME_YEAR} and {MAX_TIME_YEAR}")
    return value


# A metadata value (ItemMetadata.extra, PATCH /items/{id}/metadata `set`).
JsonScalar = Annotated[str | int | float | bool | None, AfterValidator(_json_scalar)]
# A JSON object whose numbers RFC 8785 can canonicalise (POST /verify's bundle).
JsonSafeObject = Annotated[dict[str, Any], AfterValidator(_json_safe_tree)]
# A boolean in a JSON body: true or false, nothing else.
Bool = StrictBool
# A boolean query parameter: ?x=true or ?x=false.
QueryBool = Annotated[bool, BeforeValidator(_strict_query_bool)]
# Paging and filters.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
YearFilter = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)]
Seq = Annotated[int | None, Query(ge=0, le=MAX_DB_INT)]
# An integer id or number in a path.
PathInt = Annotated[int, Path(ge=0, le=MAX_DB_INT)]
# A time in a request body.
SaneTime = Annotated[datetime, AfterValidator(_sane_time)]
LoanDays = Annotated[float, Field(gt=0, le=MAX_LOAN_DAYS, allow_inf_nan=False)]
