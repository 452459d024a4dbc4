"""The published list of operator blocks (clause 9.5: the customer gets it on request).

Public information: ``server.app`` mounts this route under ``/v1`` outside ``ApiKeyAuth``
(and without a security requirement in the OpenAPI document), so it needs no key; it uses
``services``, not ``ctx``, as no principal is known here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from policy import PublishedEntry, published_blocks, to_csv
from server.deps import ServicesDep

__all__ = ["operator_blocks"]

CSV = "text/csv"
Format = Annotated[
    Literal["json", "csv"] | None,
    QueryParameter(name="format", description="csv or json; default from the Accept header"),
]


@get(
    "/operator-blocks",
    sync_to_thread=False,
    responses={
        200: ResponseSpec(
            data_container=list[PublishedEntry],
            generate_examples=False,
            description="As JSON, or as CSV (text/csv) with a header row",
        )
    },
)
def operator_blocks(
    request: Request[Any, Any, Any], services: ServicesDep, fmt: Format = None
) -> Response[Any]:
    """Every operator block and exception of the running rules, in file order (no key needed).

    Each entry names the numbers it covers: prefixes as dialled and canonical, the calling
    code of a country, and a category's number ranges.
    """
    entries = published_blocks(services.runtime.snapshot.rules)
    if fmt is None:
        best = request.accept.best_match([MediaType.JSON, CSV], default=MediaType.JSON)
        fmt = "csv" if best == CSV else "json"
    if fmt == "csv":
        return Response(to_csv(entries), media_type=f"{CSV}; charset=utf-8")
    return Response(entries, media_type=MediaType.JSON)
