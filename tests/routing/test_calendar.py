"""The business calendar: national holidays and 调休, local overrides, opening hours,
and the working-day arithmetic ticket deadlines rely on."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from callcenter.services.setup import calendar, hours, routing_config
from callcenter.timeutil import to_local

from .conftest import TZ, at

D = dt.date


def local(instant: dt.datetime) -> dt.datetime:
    return to_local(instant, TZ).replace(tzinfo=None)


@pytest.fixture
def site_hours(session):
    hours.set_hours(session, None, range(5), [(dt.time(9), dt.time(18))])
    session.commit()


# --- working days ---------------------------------------------------------------------------

NATIONAL = [
    (D(2026, 9, 30), True),                     # Wednesday before the golden week
    *[(D(2026, 10, n), False) for n in range(1, 8)],   # National Day 10-01..07
    (D(2026, 10, 8), True), (D(2026, 10, 9), True),
    (D(2026, 10, 10), True),                    # swapped Saturday (调休)
    (D(2026, 10, 11), False),                   # ordinary Sunday
    (D(2026, 2, 14), True),                     # Spring Festival swapped Saturday
    *[(D(2026, 2, n), False) for n in range(15, 24)],  # Spring Festival 02-15..23
    (D(2026, 2, 24), True),
    (D(2026, 2, 28), True),                     # second swapped Saturday
    (D(2026, 11, 21), False), (D(2026, 11, 23), True),  # plain weekend / Monday
]


def test_national_calendar(session, settings):
    got = [(day, calendar.is_working_day(session, settings, day)) for day, _ in NATIONAL]
    assert got == NATIONAL


def test_local_overrides_beat_the_national_calendar_and_line_beats_site(session, settings, example_config):
    vip = example_config["4008002000"].id
    ordinary = example_config["4008001000"].id
    hours.add_override(session, D(2026, 11, 23), "holiday", name="公司年会")           # a Monday
    hours.add_override(session, D(2026, 11, 23), "workday", line_number="4008002000")
    hours.add_override(session, D(2026, 11, 28), "workday", name="加班")              # a Saturday
    hours.add_override(session, D(2026, 11, 28), "holiday", line_number="4008001000")
    session.commit()
    assert not calendar.is_working_day(session, settings, D(2026, 11, 23))
    assert not calendar.is_working_day(session, settings, D(2026, 11, 23), ordinary)
    assert calendar.is_working_day(session, settings, D(2026, 11, 23), vip)
    assert calendar.is_working_day(session, settings, D(2026, 11, 28))
    assert calendar.is_working_day(session, settings, D(2026, 11, 28), vip)
    assert not calendar.is_working_day(session, settings, D(2026, 11, 28), ordinary)
    # a local workday inside a national holiday
    hours.add_override(session, D(2026, 10, 2), "workday")
    session.commit()
    assert calendar.is_working_day(session, settings, D(2026, 10, 2))


# --- opening hours ----------------------------------------------------------------------------

OPENING = [
    (at(2026, 11, 23, 10), (True, "")),
    (at(2026, 11, 23, 9, 0), (True, "")),
    (at(2026, 11, 23, 8, 59), (False, "after_hours")),
    (at(2026, 11, 23, 18, 0), (False, "after_hours")),     # closing time is exclusive
    (at(2026, 11, 21, 10), (False, "after_hours")),        # a plain Saturday
    (at(2026, 10, 1, 10), (False, "holiday")),
    (at(2026, 10, 3, 10), (False, "holiday")),             # a Saturday inside the holiday
    (at(2026, 10, 10, 10), (True, "")),                    # swapped Saturday: Monday's hours
    (at(2026, 10, 10, 20), (False, "after_hours")),
    (at(2026, 2, 17, 10), (False, "holiday")),             # Spring Festival
]


def test_opening_state_with_site_hours(session, settings, site_hours):
    got = [(local(instant), calendar.opening_state(session, settings, instant)) for instant, _ in OPENING]
    assert got == [(local(instant), expected) for instant, expected in OPENING]


def test_swapped_saturday_uses_mondays_hours(session, settings, site_hours):
    hours.set_hours(session, None, [0], [(dt.time(8), dt.time(12))])   # short Mondays
    session.commit()
    assert calendar.opening_state(session, settings, at(2026, 10, 10, 8, 30)) == (True, "")
    assert calendar.opening_state(session, settings, at(2026, 10, 10, 13)) == (False, "after_hours")
    # an ordinary Saturday with hours of its own opens by them
    hours.set_hours(session, None, [5], [(dt.time(9), dt.time(12))])
    session.commit()
    assert calendar.opening_state(session, settings, at(2026, 11, 21, 10))[0]


def test_line_hours_replace_the_site_default(session, settings, example_config):
    hours.set_hours(session, "4008002000", range(7), hours.parse_intervals("00:00-24:00"))
    hours.set_hours(session, "4008001000", range(5), hours.parse_intervals("09:00-12:00,13:30-18:00"))
    session.commit()
    vip, ordinary = example_config["4008002000"].id, example_config["4008001000"].id
    assert calendar.opening_state(session, settings, at(2026, 11, 21, 3), vip) == (True, "")
    assert calendar.opening_state(session, settings, at(2026, 11, 22, 23, 59), vip) == (True, "")
    assert calendar.opening_state(session, settings, at(2026, 10, 1, 10), vip) == (False, "holiday")
    assert calendar.opening_state(session, settings, at(2026, 11, 23, 12, 30), ordinary) == (False, "after_hours")
    assert calendar.opening_state(session, settings, at(2026, 11, 23, 13, 30), ordinary) == (True, "")
    # the site default still governs an unknown line
    assert calendar.opening_state(session, settings, at(2026, 11, 23, 12, 30)) == (True, "")


def test_without_any_hours_working_days_are_open_all_day(session, settings):
    assert calendar.opening_state(session, settings, at(2026, 11, 23, 3)) == (True, "")
    assert calendar.opening_state(session, settings, at(2026, 11, 22, 12)) == (False, "after_hours")
    assert calendar.opening_state(session, settings, at(2026, 10, 10, 23)) == (True, "")
    assert calendar.opening_state(session, settings, at(2026, 10, 5, 12)) == (False, "holiday")


def test_local_holiday_closes_with_reason_holiday(session, settings, site_hours):
    hours.add_override(session, D(2026, 11, 24), "holiday", name="台风停工")
    session.commit()
    assert calendar.opening_state(session, settings, at(2026, 11, 24, 10)) == (False, "holiday")


# --- working-day arithmetic (ticket deadlines) ----------------------------------------------------

WORKING_DAYS_LATER = [
    (at(2026, 11, 20, 10), 1, at(2026, 11, 23, 10)),     # Friday → Monday
    (at(2026, 11, 21, 10), 1, at(2026, 11, 23, 10)),     # from a Saturday
    (at(2026, 11, 23, 10), 2, at(2026, 11, 25, 10)),
    (at(2026, 11, 23, 10), 0, at(2026, 11, 23, 10)),
    (at(2026, 9, 30, 15), 1, at(2026, 10, 8, 15)),       # over the golden week
    (at(2026, 9, 30, 15), 2, at(2026, 10, 9, 15)),
    (at(2026, 9, 30, 15), 3, at(2026, 10, 10, 15)),      # the swapped Saturday counts
    (at(2026, 9, 30, 15), 4, at(2026, 10, 12, 15)),      # Sunday 10-11 does not
    (at(2026, 10, 3, 11), 1, at(2026, 10, 8, 11)),       # logged during the holiday
    (at(2026, 9, 30, 7), 1, at(2026, 10, 8, 7)),         # 07:00 Beijing is the previous UTC day
    (at(2026, 2, 13, 10), 1, at(2026, 2, 14, 10)),       # Spring Festival: swapped Saturday first
    (at(2026, 2, 13, 10), 2, at(2026, 2, 24, 10)),       # then nine days off
    (at(2026, 2, 27, 10), 1, at(2026, 2, 28, 10)),       # the other swapped Saturday
    (at(2026, 12, 31, 10), 1, at(2027, 1, 1, 10)),       # 2027: weekdays only (no national data)
]


def test_add_working_days(session, settings):
    got = [(local(start), days, local(calendar.add_working_days(session, settings, start, days)))
           for start, days, _ in WORKING_DAYS_LATER]
    assert got == [(local(start), days, local(expected)) for start, days, expected in WORKING_DAYS_LATER]


def test_add_working_days_respects_local_overrides(session, settings, example_config):
    hours.add_override(session, D(2026, 11, 23), "holiday")
    hours.add_override(session, D(2026, 11, 24), "holiday", line_number="4008001000")
    session.commit()
    start = at(2026, 11, 20, 10)
    assert calendar.add_working_days(session, settings, start, 1) == at(2026, 11, 24, 10)
    line = example_config["4008001000"].id
    assert calendar.add_working_days(session, settings, start, 1, line) == at(2026, 11, 25, 10)


def test_add_working_days_refuses_negative_days(session, settings):
    with pytest.raises(ValueError):
        calendar.add_working_days(session, settings, at(2026, 11, 23), -1)


END_OF_DAY = [
    (at(2026, 11, 23, 10), at(2026, 11, 23, 18)),
    (at(2026, 11, 23, 7), at(2026, 11, 23, 18)),         # before opening: the same day
    (at(2026, 11, 23, 18), at(2026, 11, 24, 18)),        # at closing: the next working day
    (at(2026, 11, 23, 21), at(2026, 11, 24, 18)),
    (at(2026, 11, 20, 19), at(2026, 11, 23, 18)),        # Friday evening → Monday
    (at(2026, 11, 21, 10), at(2026, 11, 23, 18)),        # Saturday
    (at(2026, 9, 30, 19), at(2026, 10, 8, 18)),          # golden week
    (at(2026, 10, 9, 19), at(2026, 10, 10, 18)),         # swapped Saturday, Monday's hours
    (at(2026, 2, 14, 19), at(2026, 2, 24, 18)),          # Spring Festival
]


def test_end_of_working_day(session, settings, site_hours):
    got = [(local(when), local(calendar.end_of_working_day(session, settings, when))) for when, _ in END_OF_DAY]
    assert got == [(local(when), local(expected)) for when, expected in END_OF_DAY]


def test_end_of_working_day_with_lunch_break_and_without_hours(session, settings, example_config):
    # no line hours → site default from example_config (09:00-18:00); give the line a lunch break
    hours.set_hours(session, "4008001000", range(5), hours.parse_intervals("08:30-12:00,13:30-17:30"))
    session.commit()
    line = example_config["4008001000"].id
    assert calendar.end_of_working_day(session, settings, at(2026, 11, 23, 12, 45), line) == at(2026, 11, 23, 17, 30)
    hours.clear_hours(session, None)
    session.commit()
    # line without hours and no site default: a working day ends at midnight
    ordinary_end = calendar.end_of_working_day(session, settings, at(2026, 11, 23, 10))
    assert local(ordinary_end) == dt.datetime(2026, 11, 24, 0, 0)


def test_next_opening(session, settings, site_hours):
    assert calendar.next_opening(session, settings, at(2026, 11, 23, 10)) == at(2026, 11, 23, 10)
    assert calendar.next_opening(session, settings, at(2026, 11, 23, 19)) == at(2026, 11, 24, 9)
    assert calendar.next_opening(session, settings, at(2026, 9, 30, 19)) == at(2026, 10, 8, 9)


def test_a_calendar_that_never_opens_is_reported(session, settings, monkeypatch):
    # Open on Sundays only, and the one Sunday in reach is a local holiday.
    hours.set_hours(session, None, [6], [(dt.time(9), dt.time(10))])
    hours.add_override(session, D(2026, 11, 29), "holiday")
    session.commit()
    monkeypatch.setattr(calendar, "MAX_SCAN_DAYS", 10)
    with pytest.raises(calendar.CalendarError, match="no opening hours"):
        calendar.end_of_working_day(session, settings, at(2026, 11, 23, 10))
    with pytest.raises(calendar.CalendarError):
        calendar.next_opening(session, settings, at(2026, 11, 23, 10))


# --- beyond the national data -----------------------------------------------------------------

@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(calendar, "_warned_years", set())
    calendar.national_day.cache_clear()
    yield
    calendar.national_day.cache_clear()


def test_years_without_national_data_fall_back_to_weekdays_and_warn_once(
        session, settings, fresh_warnings, caplog):
    first, last = calendar.national_coverage()
    assert last == 2026, "chinesecalendar was upgraded: update this test's years"
    caplog.set_level(logging.WARNING, logger="callcenter.services.setup.calendar")
    assert calendar.is_working_day(session, settings, D(2027, 1, 4))        # Monday
    assert not calendar.is_working_day(session, settings, D(2027, 1, 2))    # Saturday
    assert calendar.is_working_day(session, settings, D(2027, 10, 1))       # National Day unknown: a Friday
    assert calendar.is_working_day(session, settings, D(2027, 10, 4))
    assert calendar.is_working_day(session, settings, D(2028, 1, 3))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "not 2027" in warnings[0] and "not 2028" in warnings[1]


def test_local_overrides_fill_the_years_without_national_data(session, settings, fresh_warnings):
    hours.add_override(session, D(2027, 10, 1), "holiday", name="国庆节")
    hours.add_override(session, D(2027, 9, 26), "workday", name="国庆调休")      # a Sunday
    session.commit()
    assert calendar.opening_state(session, settings, at(2027, 10, 1, 10)) == (False, "holiday")
    assert calendar.is_working_day(session, settings, D(2027, 9, 26))
    info = calendar.day_info(routing_config.current_config(session), D(2027, 9, 26))
    assert info.swapped and info.source == "site override"


def test_coverage_report_names_the_uncovered_years():
    assert calendar.coverage_report(D(2025, 6, 1)) == []
    report = calendar.coverage_report(D(2026, 11, 22))
    assert len(report) == 1 and report[0].startswith("2027: not covered")
    assert [r[:4] for r in calendar.coverage_report(D(2027, 3, 1))] == ["2027", "2028"]
