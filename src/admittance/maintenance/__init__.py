"""Database maintenance: backups and restores, one run at a time across every process (ADR 0008)."""
