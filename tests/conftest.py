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


# --- running on pytest-xdist workers (pyproject's addopts: -n 2) -----------------------------
LIVE_TESTS = "tests/live/"


def pytest_collection_modifyitems(config, items) -> None:
    """The live-Asterisk tests come first: they are the longest unit of work (one private
    Asterisk for all of them, about four minutes), so one worker starts on them while
    the other takes the rest. The order inside each file is kept."""
    rootdir = config.rootpath
    items.sort(key=lambda item: not str(item.path.relative_to(rootdir)).startswith(LIVE_TESTS))


def pytest_xdist_make_scheduler(config, log):
    """Each test file runs whole, in order, on one worker, and every live-Asterisk test
    on the same worker: those tests share one Asterisk, and some read what the earlier
    ones left in it (the CDR file). (``--dist loadgroup`` would say this with marks,
    but pytest-xdist 3.8 loses the groups on pytest 9.2: pytest-xdist issue 1386.)"""
    from xdist.scheduler import LoadFileScheduling

    class FilesWithTheLiveTestsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return LIVE_TESTS if nodeid.startswith(LIVE_TESTS) else super()._split_scope(nodeid)

    config.option.loadscopereorder = False    # the collection order above: live tests first
    return FilesWithTheLiveTestsTogether(config, log)


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
