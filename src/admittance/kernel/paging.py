"""Offset paging, as every collection of our surfaces pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int  # from 1
    size: int
    with_total: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    request: PageRequest
    total: int | None = None  # only when asked for: counting is not free on big tables
    has_more: bool = False
