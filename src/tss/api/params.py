"""What the route modules share: the node behind a request, the error responses every
route declares, and the paging parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request

from tss.api.schemas import ErrorBody
from tss.service import TSSApp

#: the error answers a route may give, for its OpenAPI entry
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)
}
#: the answers of a route that only checks who calls
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403)}
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
PageNumber = Annotated[int | None, Query(ge=1, le=1_000_000, description="page number (from 1)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="next_cursor of a page")]

T = TypeVar("T")


def node_of(request: Request) -> TSSApp:
    """The TSS node the API serves."""
    node: TSSApp = request.app.state.api.tss
    return node


def page_of(
    items: list[T], key: Callable[[T], str], limit: int, cursor: str | None, page: int | None
) -> tuple[list[T], str | None, int]:
    """One page of a short list held in memory (workers, tokens), sorted by ``key``: after
    ``cursor`` (a key) or at page number ``page``. Returns the items, the next cursor and
    the total."""
    items = sorted(items, key=key)
    total = len(items)
    if cursor is not None:
        items = [item for item in items if key(item) > cursor]
    if page:
        items = items[(page - 1) * limit :]
    more = len(items) > limit
    items = items[:limit]
    return items, key(items[-1]) if more and items else None, total
