"""The Alembic migrations build exactly the schema the models describe, on both engines."""

from sqlalchemy import inspect

from callcenter import migrate
from callcenter.db import engine_for
from callcenter.models import Base


def test_migrations_match_models(db_url):
    migrate.check(db_url)  # raises when autogenerate would find a difference


def test_every_table_exists(db_url):
    tables = set(inspect(engine_for(db_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_is_idempotent(db_url):
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
