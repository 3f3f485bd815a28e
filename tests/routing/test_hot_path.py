"""The FastAGI hot path of the routing service: one unit of work for a line without IVR
(``route_and_record`` on a Connection), and duty shifts answered from the configuration
snapshot. Both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select
from sqlalchemy.exc import DBAPIError

from callcenter.db import DriverStatement, engine_for, utcnow
from callcenter.models import Call, CallStatus
from callcenter.services.calls import routing
from callcenter.services.calls.routing import RouteRequest
from callcenter.services.people import customers
from callcenter.services.setup import hours, routing_config

from .conftest import at

MONDAY_10 = at(2026, 11, 23, 10)           # open


def req(uniqueid: str, dialled: str, now=MONDAY_10) -> RouteRequest:
    return RouteRequest(uniqueid=uniqueid, linkedid=uniqueid, channel="PJSIP/trunk-1", dialled=dialled,
                        caller_number="13900139000", caller_name="李四", now=now)


def calls(session) -> dict[str, Call]:
    session.expire_all()
    return {c.uniqueid: c for c in session.scalars(select(Call))}


def test_a_line_without_ivr_is_planned_decided_and_recorded_in_one_transaction(session, settings, example_config):
    customers.create_customer(session, name="李四", numbers=["13900139000"], tier="vip")
    session.commit()
    with engine_for(settings.database_url).begin() as conn:
        plan, decision = routing.route_and_record(conn, settings, req("1.1", "4008002000"))
    row = calls(session)["1.1"]
    assert (decision.queue, decision.reason, decision.call_id, decision.pop_key) == \
        ("vip", "vip_line", row.id, row.screen_pop_key)
    # the same decision as the three steps taken one by one
    assert routing.decide(plan, settings) == routing.replace(decision, call_id=None, pop_key="")


def test_a_line_with_ivr_is_only_planned(session, settings, example_config):
    with engine_for(settings.database_url).begin() as conn:
        plan, decision = routing.route_and_record(conn, settings, req("1.2", "4008001000"))
    assert decision is None and plan.ivr_flow == "main"
    assert "1.2" not in calls(session)


def test_a_caller_that_gave_up_gets_no_row(session, settings, example_config):
    offered = []

    def gave_up(plan, decision):
        offered.append(decision.reason)
        return False

    with engine_for(settings.database_url).begin() as conn:
        _plan, decision = routing.route_and_record(conn, settings, req("1.3", "4008002000"), gave_up)
    assert decision is None and offered == ["vip_line"] and "1.3" not in calls(session)


def test_duty_shifts_are_read_from_the_snapshot_and_past_instants_from_the_table(session, settings, example_config):
    now = utcnow()
    tomorrow = (now + dt.timedelta(days=1)).date()
    night = at(tomorrow.year, tomorrow.month, tomorrow.day, 23)     # closed every day of the week
    current = (now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
    hours.add_duty_shift(session, "duty", *current)
    hours.add_duty_shift(session, "duty", night - dt.timedelta(hours=1), night + dt.timedelta(hours=1))
    hours.add_duty_shift(session, "duty", at(2020, 1, 1, 21), at(2020, 1, 1, 23))
    session.commit()
    duty_id = example_config["4008002000"].duty_queue_id
    with engine_for(settings.database_url).connect() as conn:
        config = routing_config.current_config(conn)
        assert config.duty_since <= now and current in config.duty_shifts[duty_id]
        assert len(config.duty_shifts[duty_id]) == 2            # the 2020 shift stays in the table
        for instant, staffed in ((now, True), (now + dt.timedelta(hours=2), False), (night, True),
                                 (night + dt.timedelta(hours=1), False), (at(2020, 1, 1, 22), True),
                                 (at(2020, 1, 1, 23), False)):
            assert routing_config.duty_staffed(conn, duty_id, instant, config) is staffed, instant
            assert routing_config.duty_staffed(conn, duty_id, instant) is staffed, instant     # the table agrees
    # A closed VIP line with someone on duty goes to the duty queue, in one transaction.
    with engine_for(settings.database_url).begin() as conn:
        plan, decision = routing.route_and_record(conn, settings, req("1.4", "4008002000", now=night))
    assert not plan.is_open and (decision.queue, decision.reason) == ("duty", "duty") and decision.call_id


def test_a_new_duty_shift_reaches_the_next_call(session, settings, example_config):
    duty_id = example_config["4008002000"].duty_queue_id
    future = utcnow() + dt.timedelta(days=30)
    with engine_for(settings.database_url).connect() as conn:
        assert not routing_config.duty_staffed(conn, duty_id, future, routing_config.current_config(conn))
    hours.add_duty_shift(session, "duty", future - dt.timedelta(hours=1), future + dt.timedelta(hours=1))
    session.commit()
    with engine_for(settings.database_url).connect() as conn:
        assert routing_config.duty_staffed(conn, duty_id, future, routing_config.current_config(conn))


def test_driver_statements_store_what_the_orm_stores(session, settings, example_config):
    """The hot path writes through the driver's cursor: timestamps, enums and JSON must
    reach the database exactly as SQLAlchemy writes them, or the repeat-caller range
    query (text comparison on SQLite) would miss rows written by the other side."""
    instant = MONDAY_10.replace(microsecond=0)            # SQLite's own adapter would drop ".000000"
    session.add(Call(uniqueid="orm.1", linkedid="orm.1", channel="x", caller_e164="+8613900139000",
                     started_at=instant, ivr_path=[], status=CallStatus.ROUTED))
    session.commit()
    with engine_for(settings.database_url).begin() as conn:
        plan, decision = routing.route_and_record(conn, settings, req("hot.1", "4008002000", now=instant))
    assert plan.repeat_caller                             # the ORM's row is found by the driver's query
    raw = "SELECT uniqueid, started_at, status, ivr_path FROM calls ORDER BY id"
    with engine_for(settings.database_url).connect() as conn:
        (_, orm_at, orm_status, orm_path), (_, hot_at, hot_status, hot_path) = conn.exec_driver_sql(raw).all()
    assert (hot_at, hot_status, hot_path) == (orm_at, orm_status, orm_path)
    row = calls(session)["hot.1"]
    assert (row.started_at, row.status, row.ivr_path, row.id) == (instant, CallStatus.ROUTED, [], decision.call_id)
    # and the next call from the number sees the driver's row the same way
    with engine_for(settings.database_url).begin() as conn:
        later, _ = routing.route_and_record(conn, settings, req("hot.2", "4008002000", now=instant))
    assert later.repeat_caller


def test_driver_errors_surface_as_sqlalchemy_errors(settings):
    """A failing statement: the driver's own exception arrives wrapped, as
    Connection.execute raises it (the inline SQLite path tells a lock from other
    failures by it), and the Connection can roll back and go on."""
    missing = Table("no_such_table", MetaData(), Column("id", Integer))
    statement = DriverStatement(lambda: select(missing.c.id).where(missing.c.id == bindparam("id")))
    with engine_for(settings.database_url).connect() as conn:
        with pytest.raises(DBAPIError) as raised:
            statement.first(conn, {"id": 1})
        assert isinstance(raised.value.orig, conn.dialect.loaded_dbapi.Error)
        assert "no_such_table" in str(raised.value) and not raised.value.connection_invalidated
        conn.rollback()
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
