"""QA samples in the database: load a period's candidate calls, draw, store the draw with
everything needed to repeat it, give the calls to inspectors, and verify a stored draw.

A draw is pinned to the moment it was made (``as_of``): what counted as already reviewed,
which QA flags existed and which recordings were still there are all read "as of" then,
so re-running it later gives the same calls even after inspectors scored them.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import (
    Call,
    Line,
    QaAssignment,
    QaFlag,
    QaPlan,
    QaSample,
    QaScore,
    Queue,
    Role,
    Ticket,
    User,
)
from callcenter.services.qa import prefilter
from callcenter.services.qa.sampling import Candidate, Pick, PlanRules, agent_quota, draw
from callcenter.services.setup.periods import calendar_bounds
from callcenter.timeutil import to_utc_naive

PERIODS = ("week", "month")
FILTER_KEYS = ("queues", "lines", "agent_ids")


class DrawError(ValueError):
    """A draw that cannot be made as asked (the message says why, in Chinese)."""


def period_bounds(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The week (Monday first) or month containing ``day``: [start, end)."""
    if period not in ("week", "month"):
        raise DrawError(f"未知周期 {period!r}（week / month）")
    return calendar_bounds(period, day)


def previous_period(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    start, _ = period_bounds(period, day)
    return period_bounds(period, start - dt.timedelta(days=1))


def utc_range(settings: Settings, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    midnight = dt.time(0, 0)
    return (to_utc_naive(dt.datetime.combine(start, midnight), settings.timezone),
            to_utc_naive(dt.datetime.combine(end, midnight), settings.timezone))


def check_filters(filters: dict | None) -> dict:
    filters = {k: v for k, v in (filters or {}).items() if v}
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise DrawError(f"未知筛选条件 {sorted(unknown)}")
    return {k: sorted(str(x) for x in v) if k != "agent_ids" else sorted(int(x) for x in v)
            for k, v in filters.items()}


def period_filter(settings: Settings, start: dt.date, end: dt.date):
    since, until = utc_range(settings, start, end)
    return Call.started_at >= since, Call.started_at < until


def candidate_query(settings: Settings, rules: PlanRules, start: dt.date, end: dt.date,
                    as_of: dt.datetime, filters: dict):
    """The one scan of the period's calls that could be drawn: answered, long enough,
    recorded (not purged before ``as_of``). Plain columns only (no joins, no enum
    conversion): everything else is a small look-up (:func:`lookups`)."""
    c = Call.__table__.c
    query = (select(c.id, c.answered_by_user_id, c.line_id, c.queue, c.talk_seconds, c.category, c.linkedid)
             .where(*period_filter(settings, start, end), c.answered_by_user_id.is_not(None),
                    c.talk_seconds >= rules.min_talk_seconds, c.recording_file != "",
                    or_(c.recording_purged_at.is_(None), c.recording_purged_at > as_of)))
    if filters.get("queues"):
        query = query.where(c.queue.in_(filters["queues"]))
    if filters.get("agent_ids"):
        query = query.where(c.answered_by_user_id.in_(filters["agent_ids"]))
    return query


def _ticket_types(conn) -> dict[str, str]:
    """Call linkedid → the type of its ticket (complaint first when there are several).
    Read from the tickets table alone: it is small next to the calls."""
    t = Ticket.__table__.c
    rows = conn.execute(select(t.call_linkedid, func.min(cast(t.type, String)))
                        .where(t.call_linkedid != "").group_by(t.call_linkedid))
    return dict(rows.all())


def _flag_weights(conn, as_of: dt.datetime) -> dict[int, float]:
    f = QaFlag.__table__.c
    rows = conn.execute(select(f.call_id, func.sum(f.weight)).where(f.created_at <= as_of).group_by(f.call_id))
    return {call_id: float(weight) for call_id, weight in rows}


def _reviewed(conn, as_of: dt.datetime) -> set[int]:
    """Calls scored, or drawn by an earlier sample, before ``as_of``."""
    scored = select(QaScore.__table__.c.call_id).where(QaScore.__table__.c.submitted_at < as_of)
    drawn = (select(QaAssignment.__table__.c.call_id).join(QaSample.__table__)
             .where(QaSample.__table__.c.as_of < as_of))
    return set(conn.execute(scored.union(drawn)).scalars())


@dataclass
class Lookups:
    """The small tables a draw reads beside its scan of the calls."""

    kinds: dict[int, str]            # line id → vip / ordinary
    types: dict[str, str]            # call linkedid → ticket type
    flags: dict[int, float]          # call id → QA flag weight
    reviewed: set[int]               # call ids scored or drawn before
    lines: set[str]                  # the line kinds the filters keep (empty: all)

    def candidates(self, rows) -> list[Candidate]:
        found = []
        add, make = found.append, Candidate._make   # _make: tuple.__new__, no Python-level __init__
        kinds, types, flags, reviewed, lines = self.kinds, self.types, self.flags, self.reviewed, self.lines
        for call_id, agent_id, line_id, queue, talk, category, linkedid in rows:
            if call_id in reviewed:
                continue
            kind = kinds.get(line_id, "")
            if lines and kind not in lines:
                continue
            ttype = types.get(linkedid, "")
            add(make((call_id, agent_id, kind, queue, ttype, talk, ttype == "complaint" or category == "complaint",
                      flags.get(call_id, 0.0))))
        return found


def lookups(conn, settings: Settings, start: dt.date, end: dt.date, as_of: dt.datetime, filters: dict) -> Lookups:
    kinds = dict(conn.execute(select(Line.__table__.c.id, cast(Line.__table__.c.kind, String))).all())
    return Lookups(kinds, _ticket_types(conn), _flag_weights(conn, as_of), _reviewed(conn, as_of),
                   set(filters.get("lines") or ()))


def period_estimate(conn, settings: Settings, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(about how many calls the period has, how many agent × line × queue groups): two
    index look-ups and three small counts, no scan. Only sets how much the draw reads."""
    c = Call.__table__.c
    since, until = utc_range(settings, start, end)
    first = conn.execute(select(c.id).where(c.started_at >= since, c.started_at < until)
                         .order_by(c.started_at).limit(1)).scalar()
    last = conn.execute(select(c.id).where(c.started_at >= since, c.started_at < until)
                        .order_by(c.started_at.desc()).limit(1)).scalar()
    if first is None:
        return 0, 1
    agents = conn.execute(select(func.count()).select_from(User.__table__)
                          .where(User.__table__.c.role == Role.AGENT.value)).scalar()
    lines = conn.execute(select(func.count()).select_from(Line.__table__)).scalar()
    queues = conn.execute(select(func.count()).select_from(Queue.__table__)).scalar()
    return abs(last - first) + 1, max(agents, 1) * max(lines, 1) * max(queues, 1)


def load_candidates(session: Session, settings: Settings, rules: PlanRules, start: dt.date, end: dt.date,
                    as_of: dt.datetime, filters: dict) -> list[Candidate]:
    """Every drawable call of the period (what :func:`compute` gets from the database
    without the calls that cannot be drawn)."""
    conn = session.connection()
    found = lookups(conn, settings, start, end, as_of, filters)
    return found.candidates(conn.execute(candidate_query(settings, rules, start, end, as_of, filters)))


def new_agents(session: Session, settings: Settings, rules: PlanRules, start: dt.date) -> frozenset[int]:
    since = utc_range(settings, start - dt.timedelta(days=rules.new_agent_days), start)[0]
    return frozenset(session.scalars(select(User.id).where(User.role == Role.AGENT, User.created_at >= since)))


def scores_so_far(session: Session, as_of: dt.datetime) -> dict[int, list[float]]:
    """Each agent's current score per call (the newest version) submitted before ``as_of``."""
    newest = (select(QaScore.call_id, func.max(QaScore.version).label("v"))
              .where(QaScore.submitted_at < as_of).group_by(QaScore.call_id).subquery())
    rows = session.execute(select(QaScore.agent_id, QaScore.total).join(
        newest, and_(newest.c.call_id == QaScore.call_id, newest.c.v == QaScore.version)))
    found: dict[int, list[float]] = defaultdict(list)
    for agent_id, total in rows:
        found[agent_id].append(total)
    return found


def compute(session: Session, settings: Settings, *, rules: PlanRules, start: dt.date, end: dt.date,
            seed: int, as_of: dt.datetime, filters: dict) -> list[Pick]:
    newcomers = new_agents(session, settings, rules, start)
    scores = scores_so_far(session, as_of) if rules.ci_width is not None else {}
    conn = session.connection()

    def quota_of(agent: int | None) -> int:   # None: the most any agent gets
        if agent is None:
            return max([rules.max_per_agent if rules.ci_width else 0,
                        agent_quota(rules, new_agent=bool(newcomers))])
        return agent_quota(rules, new_agent=agent in newcomers, scores=scores.get(agent, ()))

    candidates, sizes = prefilter.load(
        conn, lookups(conn, settings, start, end, as_of, filters),
        candidate_query(settings, rules, start, end, as_of, filters), rules, seed=seed,
        estimate=period_estimate(conn, settings, start, end), quota_of=quota_of)
    return draw(candidates, rules, seed, new_agents=newcomers, scores=scores, sizes=sizes)


def make_sample(session: Session, settings: Settings, plan: QaPlan, day: dt.date, *, seed: int | None = None,
                filters: dict | None = None, actor_id: int | None = None, source: str = "panel") -> QaSample:
    """Draw ``plan``'s sample for the period containing ``day``, store it and assign it.
    The caller commits."""
    rules = plan_rules(plan)
    start, end = period_bounds(plan.period, day)
    filters = check_filters(filters)
    seed = secrets.randbits(31) if seed is None else int(seed)
    as_of = utcnow()
    picks = compute(session, settings, rules=rules, start=start, end=end, seed=seed, as_of=as_of, filters=filters)
    sample = QaSample(plan_id=plan.id, period_start=start, period_end=end, seed=seed, rules=rules.to_dict(),
                      filters=filters, as_of=as_of, call_ids=[p.call_id for p in picks], source=source,
                      created_by_id=actor_id)
    session.add(sample)
    session.flush()
    assign(session, sample, picks)
    return sample


def plan_rules(plan: QaPlan) -> PlanRules:
    return PlanRules.from_dict({**(plan.rules or {}), "quota_per_agent": plan.quota_per_agent})


def inspectors(session: Session) -> list[int]:
    return list(session.scalars(select(User.id).where(User.role == Role.QA, User.active.is_(True))
                                .order_by(User.id)))


def assign(session: Session, sample: QaSample, picks: list[Pick]) -> list[QaAssignment]:
    """Give each pick to the least-loaded inspector who is not the call's agent (load =
    pending calls, this sample included). Picks go out in a seeded shuffle, so no agent is
    always heard by the same inspector. An inspector-less pick stays unassigned."""
    people = inspectors(session)
    load = {uid: 0 for uid in people}
    for uid, count in session.execute(select(QaAssignment.inspector_id, func.count())
                                      .where(QaAssignment.status == "pending",
                                             QaAssignment.inspector_id.in_(people))
                                      .group_by(QaAssignment.inspector_id)):
        load[uid] = count
    order = list(picks)
    random.Random(f"assign:{sample.seed}").shuffle(order)
    made = []
    for pick in order:
        eligible = [uid for uid in people if uid != pick.agent_id]
        inspector = min(eligible, key=lambda uid: (load[uid], uid)) if eligible else None
        if inspector is not None:
            load[inspector] += 1
        made.append(QaAssignment(sample_id=sample.id, call_id=pick.call_id, agent_id=pick.agent_id,
                                 inspector_id=inspector, reasons=list(pick.reasons)))
    session.add_all(made)
    session.flush()
    return made


@dataclass(frozen=True)
class Verification:
    sample_id: int
    same: bool
    stored: list[int]
    drawn: list[int]

    def summary(self) -> str:
        if self.same:
            return f"样本 #{self.sample_id}: 重新抽取结果一致（{len(self.stored)} 通）"
        gone = sorted(set(self.stored) - set(self.drawn))
        new = sorted(set(self.drawn) - set(self.stored))
        return f"样本 #{self.sample_id}: 重新抽取结果不一致：缺少 {gone}，多出 {new}"


def verify(session: Session, settings: Settings, sample: QaSample) -> Verification:
    """Re-run a stored draw from its seed, rules, filters and moment."""
    picks = compute(session, settings, rules=PlanRules.from_dict(sample.rules), start=sample.period_start,
                    end=sample.period_end, seed=sample.seed, as_of=sample.as_of, filters=sample.filters or {})
    drawn = [p.call_id for p in picks]
    return Verification(sample.id, drawn == list(sample.call_ids), list(sample.call_ids), drawn)


def draw_due(session: Session, settings: Settings, today: dt.date) -> list[QaSample]:
    """The scheduler's job: every active plan gets one sample of the period that just
    ended (all its calls are in), once."""
    made = []
    for plan in session.scalars(select(QaPlan).where(QaPlan.active.is_(True)).order_by(QaPlan.id)):
        start, _ = previous_period(plan.period, today)
        exists = session.scalar(select(QaSample.id).where(QaSample.plan_id == plan.id,
                                                          QaSample.period_start == start).limit(1))
        if exists is None:
            made.append(make_sample(session, settings, plan, start, source="scheduler"))
    return made


def default_plan(session: Session) -> QaPlan:
    """The plan a fresh site starts with: monthly, 5 calls per agent (REQUIREMENTS)."""
    plan = session.scalar(select(QaPlan).order_by(QaPlan.id).limit(1))
    if plan is None:
        plan = QaPlan(name="月度质检", period="month", quota_per_agent=5, rules={}, active=True)
        session.add(plan)
        session.flush()
    return plan
