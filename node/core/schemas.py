"""Response models shared by several slices, and `Answer`, the base of every response model.

Why a base of its own: the routes build their answers as dicts (the views in each slice's service), and the
models describe those dicts for OpenAPI and check them at the boundary without changing them. So an
`Answer` (1) sends exactly the fields the route gave, no `null` added for an optional field left out (the
model serialises only the fields set), and (2) never drops a field it does not declare: it is sent all the
same, with an `UndeclaredField` warning, which the test suite turns into an error (pyproject.toml), so a new
field cannot reach a client without its model. The OpenAPI schema of an `Answer` is closed
(`additionalProperties: false`), so schemathesis flags an undeclared field too. A payload that is genuinely
open (an item's metadata, a signed certificate, a check's details) is a `dict[str, Any]` field, not an
open model."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_serializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from verifier.bundle import BUNDLE_JSON_SCHEMA

OpenObject = dict[str, Any]  # a JSON object whose keys are data, not schema (metadata, certificates, details)


class UndeclaredField(UserWarning):
    """An answer carried a field its response model does not declare (sent anyway: declare it)."""


def _closed_unless_open(schema: dict[str, Any], model: type[BaseModel]) -> None:
    schema["additionalProperties"] = bool(getattr(model, "open_object", False))


class Answer(BaseModel):
    """Base of every response model: the route's dict as given, checked against the declared fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_closed_unless_open)
    open_object: ClassVar[bool] = False  # True: more keys are data (e.g. where an audit problem was found)

    @model_serializer(mode="wrap")
    def _as_given(self, handler):  # type: ignore[no-untyped-def]  # no return type: it would replace the schema
        data = handler(self)
        extra = self.__pydantic_extra__ or {}
        if extra and not self.open_object:
            warnings.warn(f"{type(self).__name__} does not declare {sorted(extra)}", UndeclaredField, stacklevel=2)
        return {k: v for k, v in data.items() if k in self.model_fields_set or k in extra}


class ProofBundle(RootModel[OpenObject]):
    """A proof bundle's wire form. Defined once, by the verifier (verifier/bundle.py: `ProofBundle` and
    its `BUNDLE_JSON_SCHEMA`); this wrapper only names that schema in OpenAPI and passes the bundle through."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: cs.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        return {**BUNDLE_JSON_SCHEMA, "title": "ProofBundle"}


# -- the chain, as /health and /status show it --------------------------------------------------------
class ChainStatus(Answer):
    """Whether the node reaches its chain (`error` when it does not)."""

    reachable: bool
    chain_id: int
    block: int | None = None
    error: str | None = None


class Health(Answer):
    status: str = Field(description='"ok" (the database answers)')
    chain: ChainStatus
    contract: str | None = Field(description="the ArchiveAnchor contract address (null: anchoring not set up)")


# -- items (ingest, arrangement, lending) ---------------------------------------------------------------
class ItemView(Answer):
    """An item as GET /items/{id}, the lists and the volumes show it."""

    id: str
    fonds: str
    title: str
    category: str
    year: int
    retention: str
    archival_code: str | None
    metadata: OpenObject = Field(description="the item's metadata as filed or last edited (open: `extra` keys)")
    content_sha256: str
    size: int
    filename: str | None
    source_path: str
    leaf_index: int
    log_id: str | None = Field(description="hex; null in lists (the log is not loaded there)")
    created_at: str


class Certificate(RootModel[OpenObject]):
    """A certificate signed by the node's verifier key (verifier/certificate.py): `v`, `payload` (the
    verification result, the bundle, the issuer, the trust root's digest; a permit for a loan),
    `public_key`, `signature`. Open: the verifier defines it, and a client checks it with the verifier."""


__all__ = [
    "Answer", "Certificate", "ChainStatus", "Health", "ItemView", "OpenObject", "ProofBundle", "UndeclaredField",
]  # fmt: skip
