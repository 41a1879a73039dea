"""The one shape of storage every context uses: write transactions and a read path, each yielding the
stores the context names in its own transaction Protocol (`Storage[IdentityTransaction]`, ...)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

TxT_co = TypeVar("TxT_co", covariant=True)


class Storage(Protocol[TxT_co]):
    def transaction(self) -> AbstractAsyncContextManager[TxT_co]:
        """A write transaction: commits on exit, rolls back on an exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[TxT_co]:
        """The same stores on the read path: for use cases that change nothing."""
        ...
