"""Read only the calls a draw can pick, not the whole month.

A call's random key is a hash of (seed, call id) that the database computes too
(sampling.unit_hash). Per agent and stratum the draw only ever takes calls among the
``quota`` highest keys, so the database returns:
- every call with a ticket (the ticket-type strata are counted from them) or a QA flag;
- the other calls whose key (the hash, raised to 1/weight for very short, very long and
  complaint calls) can clear a cut chosen so that each stratum keeps several times its
  quota — a few per cent;
plus, in one GROUP BY, how many drawable calls each (agent, line, queue) has (the strata
sizes the allotment needs). An agent for whom the cut left too few calls in a stratum is
read again in full, so the draw is exactly the one over all calls (tested against it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable

from sqlalchemy import BigInteger, String, and_, case, cast, func, literal, or_, select

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


# Separators of the calls packed into each group's row: not in ids, numbers, categories
# or Asterisk's linkedids.
UNIT, RECORD = "\x1f", "\x1e"


def load(conn, found, base, rules: PlanRules, *, seed: int, estimate: tuple[int, int],
         quota_of: Callable[[int], int]) -> tuple[list[Candidate], dict[int, dict[tuple, int]]]:
    """(candidates, agent → stratum → size) for sampling.draw, from ONE scan of the period:
    per (agent, line, queue) its number of calls and, packed into a string, the calls
    worth sending (weighted, or above the hash cut). ``found`` holds the draw's look-ups
    (draws.Lookups), ``base`` is its scan of the period's drawable calls, ``estimate``
    (calls in the period, groups) sets the cut."""
    c = Call.__table__.c
    cut = _cut(estimate, quota_of)
    cuts = _cuts_by_weight(cut, rules)
    keep = (or_(hash_expression(seed) >= _threshold(rules, cuts), c.linkedid.in_(_ticketed()),
                c.id.in_(select(QaFlag.__table__.c.call_id))) if cut > 0 else literal(True))
    packed = (cast(c.id, String) + UNIT + cast(c.talk_seconds, String) + UNIT + c.category + UNIT + c.linkedid)
    aggregate = (func.string_agg if conn.dialect.name == "postgresql" else func.group_concat)(
        case((keep, packed)), RECORD)
    query = base.with_only_columns(c.answered_by_user_id, c.line_id, c.queue, func.count(), aggregate).group_by(
        c.answered_by_user_id, c.line_id, c.queue)
    groups: dict[int, Counter] = defaultdict(Counter)
    rows = []
    for agent, line_id, queue, n, calls in conn.execute(query):
        groups[agent][(found.kinds.get(line_id, ""), queue)] += n
        for item in (calls or "").split(RECORD) if calls else ():
            call_id, talk, category, linkedid = item.split(UNIT)
            rows.append((int(call_id), agent, line_id, queue, int(talk), category, linkedid))
    candidates = found.candidates(rows)
    sizes = _sizes(conn, base, found, rules, groups, candidates)
    short = _short_agents(candidates, sizes, rules, seed, cuts, quota_of)
    if short:
        candidates = [x for x in candidates if x.agent_id not in short]
        candidates += found.candidates(conn.execute(base.where(c.answered_by_user_id.in_(sorted(short)))))
        for agent in short:
            sizes.pop(agent, None)     # computed from the agent's full list
    return candidates, sizes


def _ticketed():
    t = Ticket.__table__.c
    return select(t.call_linkedid).where(t.call_linkedid != "")


def _sizes(conn, base, found, rules: PlanRules, groups, candidates) -> dict[int, dict[tuple, int]]:
    """Calls per agent and stratum: the group counts less the reviewed calls, ticketed
    calls (all among the candidates) moved to their ticket type's stratum."""
    c = Call.__table__.c
    full: dict[int, Counter] = defaultdict(Counter)
    for agent, counts in groups.items():
        for (kind, queue), n in counts.items():
            full[agent][(kind, queue, "")] += n
    reviewed = sorted(found.reviewed)
    for chunk in range(0, len(reviewed), 500):
        for agent, line_id, queue in conn.execute(base.with_only_columns(c.answered_by_user_id, c.line_id, c.queue)
                                                  .where(c.id.in_(reviewed[chunk:chunk + 500]))):
            kind = found.kinds.get(line_id, "")
            if not found.lines or kind in found.lines:
                full[agent][(kind, queue, "")] -= 1
    for x in candidates:
        if x.ticket_type:
            full[x.agent_id][(x.line, x.queue, "")] -= 1
            full[x.agent_id][(x.line, x.queue, x.ticket_type)] += 1
    project = _project(rules)
    sizes: dict[int, dict[tuple, int]] = {}
    for agent, counts in full.items():
        projected: Counter = Counter()
        for key, n in counts.items():
            projected[project(key)] += n
        sizes[agent] = {k: n for k, n in projected.items() if n > 0}
    return sizes


def _cut(estimate: tuple[int, int], quota_of) -> int:
    """The hash an ordinary call must reach, so that a typical (agent, line, queue) group
    keeps MARGIN × the quota (smaller strata are caught by _short_agents)."""
    calls, groups = estimate
    if calls <= 0:
        return 0
    typical = calls / max(groups, 1)
    keep = (MARGIN * quota_of(None) + SLACK) / typical
    return 0 if keep >= 1 else math.floor((1 - keep) * HASH_MODULUS)


def _cuts_by_weight(cut: int, rules: PlanRules) -> dict[float, int]:
    """A call of weight w (very short/long, complaint: known in the scan) is left out when
    its key u^(1/w) stays below the cut's t, i.e. its hash below P·t^w. Ticketed and
    flagged calls are always sent (their tickets give the strata; flags have any weight)."""
    t = cut / HASH_MODULUS
    cw, sw, lw = rules.complaint_weight, rules.short_weight, rules.long_weight
    return {w: math.floor(HASH_MODULUS * t ** w) for w in (1.0, sw, lw, cw, cw * sw, cw * lw)}


def _threshold(rules: PlanRules, cuts: dict[float, int]):
    c = Call.__table__.c
    short, long_ = c.talk_seconds < rules.short_seconds, c.talk_seconds > rules.long_seconds
    complaint = c.category == "complaint"
    cw, sw, lw = rules.complaint_weight, rules.short_weight, rules.long_weight

    def at(w: float):
        return literal(cuts[w], BigInteger)
    return case((and_(complaint, short), at(cw * sw)), (and_(complaint, long_), at(cw * lw)),
                (complaint, at(cw)), (short, at(sw)), (long_, at(lw)), else_=at(1.0))


def _short_agents(candidates, sizes, rules: PlanRules, seed: int, cuts: dict[float, int], quota_of) -> set[int]:
    """Agents with a stratum where fewer than min(size, quota) calls are sure to be there
    (a key above every call the cut left out)."""
    if cuts[1.0] <= 0:
        return set()
    # Every call left out has a key at most this.
    bound = max((max(cut - 0.5, 0.0) / HASH_MODULUS) ** (1.0 / w) for w, cut in cuts.items())
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
