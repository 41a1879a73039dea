"""Where the database is (a SQLite file in the data folder, or a PostgreSQL URL) and how many
connections a process opens: the `database` section of the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DatabaseLocation:
    dialect: str  # "sqlite" | "postgresql"
    sqlite_path: Path | None = None
    postgres_url: str | None = None
    url: str = ""  # as the settings gave it; empty: SQLite in the data folder
    pool_size: int = 10  # PostgreSQL connections per process

    @classmethod
    def parse(cls, database_url: str | None, data_dir: Path, *, pool_size: int = 10) -> DatabaseLocation:
        url = database_url or ""
        if not url:
            return cls("sqlite", sqlite_path=data_dir / "admittance.sqlite3", pool_size=pool_size)
        if url.startswith(("postgresql://", "postgres://")):
            return cls("postgresql", postgres_url=url, url=url, pool_size=pool_size)
        if url.startswith("sqlite:///"):
            return cls("sqlite", sqlite_path=Path(url.removeprefix("sqlite:///")), url=url, pool_size=pool_size)
        raise ValueError("database URL must start with postgresql:// or sqlite:///")

    def sqlalchemy_url(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        assert self.postgres_url is not None
        return "postgresql+psycopg://" + self.postgres_url.split("://", 1)[1]

    def redacted(self) -> str:
        """For display: the password part of a URL is replaced."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        assert self.postgres_url is not None
        scheme, rest = self.postgres_url.split("://", 1)
        if "@" in rest:
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
        return self.postgres_url
