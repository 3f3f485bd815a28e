"""The Alembic migrations build exactly the schema the models describe, on both engines."""

from sqlalchemy import inspect

from callcenter import migrate
from callcenter.db import engine_for
from callcenter.models import Base


def test_migrations_match_models(db_url):
    migrate.check(db_url)  # raises when autogenerate would find a difference


def test_the_schedulers_own_job_table_is_not_a_difference(db_url):
    """``callcenter scheduler`` keeps its jobs in APScheduler's own table (``apscheduler_jobs``,
    created by APScheduler on its first start). A site's database has it; the migrations must
    neither report it as a difference nor autogenerate its removal."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(engine=engine_for(db_url))
    store.start(None, "default")         # creates the table, as the scheduler's first start does
    try:
        assert "apscheduler_jobs" in inspect(engine_for(db_url)).get_table_names()
        migrate.check(db_url)
        migrate.upgrade(db_url)
    finally:
        store.jobs_t.drop(engine_for(db_url))


def test_every_table_exists(db_url):
    tables = set(inspect(engine_for(db_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_is_idempotent(db_url):
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
