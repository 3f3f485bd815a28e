"""Shared fixtures.

Database tests take the ``db_url`` fixture (or ``session`` / ``settings`` built on it)
and run twice: on SQLite and on PostgreSQL. The PostgreSQL run uses a private database
created for this test process (``CALLCENTER_TEST_PG`` names the server, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and is skipped with the reason
shown when no server answers. Both schemas are built by the real Alembic migrations.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import engine_for, session_factory
from callcenter.models import Base

PG_ADMIN_URL = os.environ.get(
    "CALLCENTER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _agi_overload_for_a_shared_machine(monkeypatch) -> None:
    """FastAGI servers started by tests (in-process or as child processes) shed database
    work only when their event loop is 2 s behind, not 0.25 s: a test process's own
    garbage collections and the other tests' servers on the same cores would otherwise
    send a routing test's call to its overload fallback now and then. Shedding itself is
    tested with the production threshold given explicitly
    (tests/agi/test_server.py::test_a_lagging_event_loop_sheds_database_work_until_it_recovers)."""
    monkeypatch.setenv("CALLCENTER_AGI_OVERLOAD_LAG_S", "2.0")


@pytest.fixture(autouse=True)
def _own_journal_dir(tmp_path_factory, monkeypatch) -> None:
    """Each test keeps refused records in a journal directory of its own (never the
    working directory's instance/, never another test's)."""
    monkeypatch.setenv("CALLCENTER_JOURNAL_DIR", str(tmp_path_factory.mktemp("journal")))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file per test run; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private, migrated PostgreSQL database for this test process."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}".splitlines()[0])
    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine_for(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "callcenter.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    """SQLite only, for tests about the embedded default itself."""
    path = tmp_path / "callcenter.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(
        database_url=db_url,
        recordings_dir=tmp_path / "recordings",
        prompts_dir=tmp_path / "recordings" / "prompts",
        secret_key="test-secret-key",
    )


@pytest.fixture
def session(db_url) -> Iterator[Session]:
    with session_factory(db_url)() as s:
        yield s
