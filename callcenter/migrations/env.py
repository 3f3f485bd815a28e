"""Alembic environment: the URL comes from the callcenter configuration (or -x url=...)."""

from __future__ import annotations

from alembic import context

from callcenter.db import make_engine
from callcenter.models import Base

config = context.config
target_metadata = Base.metadata

# Tables in our database that other software owns: APScheduler's job store (created by
# APScheduler when ``callcenter scheduler`` first starts). Autogenerate must not see them
# as a difference, or a new revision would drop them.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})


def _ours(name, type_, parent_names) -> bool:
    """Alembic's include_name hook: skip the foreign tables (and so their indexes)."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from callcenter.config import get_settings

    return get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    # render_as_batch: SQLite can only ALTER tables by copying them; batch mode does that.
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True, include_name=_ours)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
