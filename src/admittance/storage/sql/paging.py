"""One page of a query: a row more than asked tells whether there is a next page; the total only on request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from admittance.kernel.paging import Page, PageRequest
from admittance.storage.database import Executor, Params, Row

T = TypeVar("T")


async def fetch_page(
    executor: Executor,
    select: str,
    count: str,
    params: Params,
    page: PageRequest,
    convert: Callable[[Row], T],
) -> Page[T]:
    """`select` is ordered and takes LIMIT/OFFSET appended; `count` answers one row with column `n`."""
    found = await executor.fetch_all(
        f"{select} LIMIT :limit OFFSET :offset", {**params, "limit": page.size + 1, "offset": page.offset}
    )
    total = None
    if page.with_total:
        row = await executor.fetch_one(count, params)
        total = int(row["n"]) if row else 0
    return Page([convert(row) for row in found[: page.size]], page, total, has_more=len(found) > page.size)
