"""SQL implementations of the store protocols, shared by SQLite and PostgreSQL."""
