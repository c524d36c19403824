"""Apply the database migrations to a local stack's PostgreSQL (for `tidewatch migrate`, `invoke`, `dev`)."""

from __future__ import annotations


def migrate_database(database_url: str, *, quiet: bool = False) -> list[str]:
    """Apply pending migrations; returns their names and, unless `quiet`, prints what was applied."""
    from tidewatch.db import Database
    from tidewatch.migrate import apply_migrations

    database = Database(database_url)
    try:
        applied = apply_migrations(database)
    finally:
        database.close()
    if not quiet:
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return applied
