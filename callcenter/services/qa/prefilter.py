"""Read only the calls a draw can pick, not the whole month.

A call's random key is a hash of (seed, call id) that the database computes too
(sampling.unit_hash). Per agent and stratum the draw only ever takes calls among the
``quota`` highest keys, so the database returns:
- every call that is weighted (complaint, ticket, QA flag, very short or long) — few;
- the other calls whose hash clears a cut chosen so that each stratum keeps several
  times its quota — a few per cent;
plus, in one GROUP BY, how many drawable calls each (agent, line, queue) has (the strata
sizes the allotment needs). An agent for whom the cut left too few calls in a stratum is
read again in full, so the draw is exactly the one over all calls (tested against it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable

from sqlalchemy import BigInteger, cast, func, literal, or_, select

from callcenter.models import Call, QaFlag, Ticket
from callcenter.services.qa.sampling import HASH_MODULUS, Candidate, PlanRules, stratum_of, unit, weight_and_reasons

# Each stratum should keep this many times its quota (plus a little) above the cut.
MARGIN, SLACK = 3, 10


def hash_expression(seed: int):
    """sampling.unit_hash in SQL (64-bit integers on SQLite and PostgreSQL)."""
    m = literal(HASH_MODULUS, BigInteger)
    cid = cast(Call.__table__.c.id, BigInteger)
    x = (cid * literal(48271, BigInteger) + literal(seed % HASH_MODULUS, BigInteger)) % m
    x = (x * x + literal(12345, BigInteger)) % m
    return (x * x + cid) % m


def _project(rules: PlanRules):
    """(line kind, queue, ticket type) → the plan's stratum tuple."""
    names = ("line", "queue", "ticket_type")
    index = [names.index(n) for n in rules.strata]
    return lambda key: tuple(key[i] for i in index)


def load(conn, found, base, reviewed, rules: PlanRules, *, seed: int,
         quota_of: Callable[[int], int]) -> tuple[list[Candidate], dict[int, dict[tuple, int]]]:
    """(candidates, agent → stratum → size) for sampling.draw. ``found`` holds the draw's
    look-ups (draws.Lookups), ``base`` is its scan of the period's drawable calls,
    ``reviewed`` the query of the calls already reviewed."""
    sizes = _sizes(conn, base, found, rules, reviewed)
    cut = _cut(sizes, found, rules, quota_of)
    c = Call.__table__.c
    weighted = or_(c.talk_seconds < rules.short_seconds, c.talk_seconds > rules.long_seconds,
                   c.category == "complaint",
                   c.linkedid.in_(_ticketed()),
                   c.id.in_(select(QaFlag.__table__.c.call_id)))
    rows = conn.execute(base.where(or_(hash_expression(seed) >= cut, weighted)) if cut > 0 else base)
    candidates = found.candidates(rows)
    short = _short_agents(candidates, sizes, rules, seed, cut, quota_of)
    if short:
        candidates = [x for x in candidates if x.agent_id not in short]
        candidates += found.candidates(conn.execute(base.where(c.answered_by_user_id.in_(sorted(short)))))
        for agent in short:
            sizes.pop(agent, None)     # computed from the agent's full list
    return candidates, sizes


def _ticketed():
    t = Ticket.__table__.c
    return select(t.call_linkedid).where(t.call_linkedid != "")


def _sizes(conn, base, found, rules: PlanRules, reviewed) -> dict[int, dict[tuple, int]]:
    """Drawable calls per agent and stratum: one GROUP BY, less the reviewed calls, with
    ticketed calls moved to their ticket type's stratum."""
    c = Call.__table__.c
    groups = base.with_only_columns(c.answered_by_user_id, c.line_id, c.queue, func.count()).group_by(
        c.answered_by_user_id, c.line_id, c.queue)
    full: dict[int, Counter] = defaultdict(Counter)
    for agent, line_id, queue, n in conn.execute(groups):
        kind = found.kinds.get(line_id, "")
        if not found.lines or kind in found.lines:
            full[agent][(kind, queue, "")] += n
    if found.types or found.reviewed:
        rows = conn.execute(base.with_only_columns(c.id, c.answered_by_user_id, c.line_id, c.queue)
                            .where(or_(c.linkedid.in_(_ticketed()), c.id.in_(reviewed))))
        for call_id, agent, line_id, queue in rows:
            kind = found.kinds.get(line_id, "")
            if found.lines and kind not in found.lines:
                continue
            full[agent][(kind, queue, "")] -= 1
            if call_id not in found.reviewed:
                full[agent][(kind, queue, found.types.get(call_id, ""))] += 1
    project = _project(rules)
    sizes: dict[int, dict[tuple, int]] = {}
    for agent, counts in full.items():
        projected: Counter = Counter()
        for key, n in counts.items():
            projected[project(key)] += n
        sizes[agent] = {k: n for k, n in projected.items() if n > 0}
    return sizes


def _cut(sizes, found, rules: PlanRules, quota_of) -> int:
    """The hash an ordinary call must reach: each typical stratum keeps MARGIN × quota."""
    needs = [min(n, quota_of(agent)) * MARGIN + SLACK for agent, strata in sizes.items() for n in strata.values()]
    stratum_sizes = sorted(n for strata in sizes.values() for n in strata.values())
    if not stratum_sizes:
        return 0
    typical = stratum_sizes[len(stratum_sizes) // 2]
    keep = max(needs) / typical
    return 0 if keep >= 1 else math.floor((1 - keep) * HASH_MODULUS)


def _short_agents(candidates, sizes, rules: PlanRules, seed: int, cut: int, quota_of) -> set[int]:
    """Agents with a stratum where fewer than min(size, quota) calls are sure to be there
    (a key above every call the cut left out)."""
    if cut <= 0:
        return set()
    bound = (cut - 0.5) / HASH_MODULUS          # every call left out has a key at most this
    stratum = stratum_of(rules)
    above: dict[int, Counter] = defaultdict(Counter)
    present: dict[int, Counter] = defaultdict(Counter)
    for x in candidates:
        weight, _ = weight_and_reasons(x, rules)
        key = unit(seed, x.call_id) ** (1.0 / weight)
        present[x.agent_id][stratum(x)] += 1
        if key > bound:
            above[x.agent_id][stratum(x)] += 1
    short = set()
    for agent, strata in sizes.items():
        quota = quota_of(agent)
        for s, n in strata.items():
            if present[agent][s] < n and above[agent][s] < min(n, quota):
                short.add(agent)
                break
    return short
