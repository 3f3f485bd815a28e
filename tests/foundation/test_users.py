import pytest
from click.testing import CliRunner

from callcenter.cli import main
from callcenter.models import Role, User
from callcenter.services.people import users


def test_password_is_hashed_and_checked(session):
    user = users.create_user(session, username="li", password="s3cret-pass", role="qa")
    session.commit()
    assert user.role is Role.QA
    assert "s3cret-pass" not in user.password_hash
    assert users.verify_password(user, "s3cret-pass")
    assert not users.verify_password(user, "wrong-pass")


@pytest.mark.parametrize("kwargs, message", [
    (dict(username="", password="longenough", role="agent"), "empty"),
    (dict(username="x", password="short", role="agent"), "at least"),
    (dict(username="x", password="longenough", role="boss"), "unknown role"),
])
def test_bad_user_input_is_refused(session, kwargs, message):
    with pytest.raises(users.UserError, match=message):
        users.create_user(session, **kwargs)


def test_duplicate_username_refused(session):
    users.create_user(session, username="wang", password="longenough", role="agent")
    with pytest.raises(users.UserError, match="already exists"):
        users.create_user(session, username="wang", password="otherpass1", role="admin")


def test_cli_create_user(db_url, monkeypatch, session):
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", db_url)
    from callcenter.config import get_settings
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(main, ["create-user", "zhao", "--role", "supervisor", "--name", "赵主管",
                                      "--password", "longenough"])
        assert result.exit_code == 0, result.output
        again = runner.invoke(main, ["create-user", "zhao", "--role", "agent", "--password", "longenough"])
        assert again.exit_code != 0 and "already exists" in again.output
    finally:
        get_settings.cache_clear()
    user = session.query(User).filter_by(username="zhao").one()
    assert (user.role, user.display_name) == (Role.SUPERVISOR, "赵主管")


@pytest.mark.parametrize("args", [["init-db"], ["create-user", "zhao", "--role", "agent", "--password", "longenough"]])
def test_cli_names_an_unreachable_database_in_one_line_without_its_password(monkeypatch, args):
    # Nothing listens on port 9 of the loopback (discard, never served here).
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", "postgresql+psycopg://cc:s3cret-word@127.0.0.1:9/cc")
    from callcenter.config import get_settings
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, args)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.startswith("Error: database postgresql+psycopg://cc:***@127.0.0.1:9/cc: ")
    assert "refused" in result.output or "failed" in result.output
    assert "s3cret-word" not in result.output and "Traceback" not in result.output
