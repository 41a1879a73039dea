"""Where the database is: a SQLite file in the data folder, or a PostgreSQL URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DatabaseLocation:
    dialect: str  # "sqlite" | "postgresql"
    sqlite_path: Path | None = None
    postgres_url: str | None = None

    @classmethod
    def parse(cls, database_url: str | None, data_dir: Path) -> DatabaseLocation:
        if not database_url:
            return cls("sqlite", sqlite_path=data_dir / "admittance.sqlite3")
        if database_url.startswith(("postgresql://", "postgres://")):
            return cls("postgresql", postgres_url=database_url)
        if database_url.startswith("sqlite:///"):
            return cls("sqlite", sqlite_path=Path(database_url.removeprefix("sqlite:///")))
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
