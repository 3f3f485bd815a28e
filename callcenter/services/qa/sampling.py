"""The QA draw: which calls each agent is heard on, fair and reproducible.

Pure functions over plain rows (no database), so the rules are tested on their own and
a stored draw can be re-run exactly (:mod:`callcenter.services.qa.draws` loads the rows).

Each call's random number is a hash of (seed, call id) (:func:`unit_hash`, which SQL
computes too, so the database can leave out calls that cannot be drawn); ties between
strata are broken by a generator seeded with (seed, agent). Per agent:
- the quota (REQUIREMENTS: each agent heard 1–5 times a month; default 5) is raised for
  new agents, and for agents whose score average is still too uncertain
  (:func:`samples_needed`, when the plan sets a confidence-interval width);
- the quota is spread over the agent's strata (line VIP/ordinary, queue, ticket type):
  every stratum the agent worked in gets a call when the quota allows, the rest follows
  the strata's sizes;
- inside a stratum calls are drawn without replacement with weights (Efraimidis–
  Spirakis keys u^(1/w)): complaints, QA flags (a dissatisfied survey answer, a speech
  check), very short and very long calls weigh more, so they are heard more often
  without every one of them crowding out ordinary calls.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import NamedTuple

STRATA = ("line", "queue", "ticket_type")


@dataclass(frozen=True)
class PlanRules:
    quota_per_agent: int = 5
    strata: tuple[str, ...] = STRATA
    min_talk_seconds: int = 20          # shorter calls are never drawn (nothing to judge)
    short_seconds: int = 60             # "very short": over-sampled (a customer cut off?)
    long_seconds: int = 900             # "very long": over-sampled (a difficult call)
    complaint_weight: float = 3.0
    flag_weight: float = 3.0            # times the flag's own weight
    short_weight: float = 2.0
    long_weight: float = 2.0
    new_agent_days: int = 30            # an agent created this recently counts as new ...
    new_agent_factor: float = 2.0       # ... and is heard this many times more
    ci_width: float | None = None       # wanted full width of each agent's 95% interval
    max_per_agent: int = 30

    def __post_init__(self) -> None:
        unknown = set(self.strata) - set(STRATA)
        if unknown:
            raise ValueError(f"unknown strata {sorted(unknown)}; use {', '.join(STRATA)}")
        if self.quota_per_agent < 1:
            raise ValueError("the quota per agent must be at least 1")
        if self.ci_width is not None and self.ci_width <= 0:
            raise ValueError("the confidence-interval width must be positive")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["strata"] = list(self.strata)
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> PlanRules:
        data = dict(data or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown plan rules {sorted(unknown)}")
        if "strata" in data:
            data["strata"] = tuple(data["strata"])
        return cls(**data)


class Candidate(NamedTuple):
    """One call that may be drawn (a tuple: a month of calls is a million of them)."""

    call_id: int
    agent_id: int
    line: str = ""
    queue: str = ""
    ticket_type: str = ""
    talk_seconds: int = 0
    complaint: bool = False
    flag_weight: float = 0.0            # the sum of the call's QA flags' weights (0: none)


@dataclass(frozen=True)
class Pick:
    call_id: int
    agent_id: int
    reasons: tuple[str, ...] = field(default_factory=tuple)


def weight_and_reasons(c: Candidate, rules: PlanRules) -> tuple[float, tuple[str, ...]]:
    if not c.complaint and not c.flag_weight and rules.short_seconds <= c.talk_seconds <= rules.long_seconds:
        return 1.0, ()          # most calls: nothing to over-sample
    weight, reasons = 1.0, []
    if c.complaint:
        weight *= rules.complaint_weight
        reasons.append("complaint")
    if c.flag_weight > 0:
        weight *= rules.flag_weight * c.flag_weight
        reasons.append("flagged")
    if c.talk_seconds < rules.short_seconds:
        weight *= rules.short_weight
        reasons.append("short")
    elif c.talk_seconds > rules.long_seconds:
        weight *= rules.long_weight
        reasons.append("long")
    return weight, tuple(reasons)


def agent_quota(rules: PlanRules, *, new_agent: bool, scores: Sequence[float] = ()) -> int:
    quota = rules.quota_per_agent
    if new_agent:
        quota = math.ceil(quota * rules.new_agent_factor)
    if rules.ci_width is not None:
        quota = max(quota, samples_needed(scores, rules.ci_width) - len(scores))
    return min(quota, rules.max_per_agent)


# The random key of a call is a hash of (seed, call id), computed the same way in Python
# and in SQL (draws.py): the database can then skip calls that cannot be drawn instead of
# sending a million rows to Python. Integer arithmetic below 2^63 on both engines.
HASH_MODULUS = 2_147_483_647           # 2^31 - 1, a prime


def unit_hash(seed: int, call_id: int) -> int:
    """A pseudo-random integer in [0, HASH_MODULUS) for this call in this draw."""
    m = HASH_MODULUS
    x = (call_id * 48271 + seed % m) % m
    x = (x * x + 12345) % m
    return (x * x + call_id) % m


def unit(seed: int, call_id: int) -> float:
    """The call's uniform number in (0, 1)."""
    return (unit_hash(seed, call_id) + 0.5) / HASH_MODULUS


def draw(candidates: Iterable[Candidate], rules: PlanRules, seed: int, *,
         new_agents: frozenset[int] = frozenset(),
         scores: dict[int, Sequence[float]] | None = None,
         sizes: dict[int, dict[tuple, int]] | None = None) -> list[Pick]:
    """The sample: picks ordered by agent, then call id. Same inputs, same picks.

    ``sizes`` (agent → stratum → calls) is given when ``candidates`` holds only the calls
    that can still be drawn (:func:`callcenter.services.qa.draws.load_candidates`): every
    stratum's calls with the ``quota`` highest keys, or all of them."""
    by_agent: dict[int, list[Candidate]] = defaultdict(list)
    shortest = rules.min_talk_seconds
    for c in candidates:
        if c.talk_seconds >= shortest:
            by_agent[c.agent_id].append(c)
    scores = scores or {}
    picks: list[Pick] = []
    for agent_id in sorted(by_agent):
        quota = agent_quota(rules, new_agent=agent_id in new_agents, scores=scores.get(agent_id, ()))
        rng = random.Random(f"{seed}:{agent_id}")
        chosen = _draw_one_agent(by_agent[agent_id], quota, rules, rng, seed,
                                 sizes.get(agent_id) if sizes is not None else None)
        new = ("new_agent",) if agent_id in new_agents else ()
        picks.extend(Pick(c.call_id, agent_id, (_stratum_label(c, rules), *why, *new))
                     for c, why in sorted(chosen, key=lambda cw: cw[0].call_id))
    return picks


def stratum_of(rules: PlanRules):
    """Candidate → its stratum key, as a tuple of the plan's strata."""
    if not rules.strata:
        return lambda c: ()
    if len(rules.strata) == 1:
        get = attrgetter(rules.strata[0])
        return lambda c: (get(c),)
    return attrgetter(*rules.strata)


def _stratum_label(c: Candidate, rules: PlanRules) -> str:
    return "stratum:" + "/".join(f"{name}={getattr(c, name) or '-'}" for name in rules.strata)


def keyed_by_stratum(calls: Iterable[Candidate], rules: PlanRules, seed: int):
    """stratum → [(key, call, reasons)], highest key first. The key is the call's uniform
    number raised to 1/weight (Efraimidis–Spirakis: the top k keys are a weighted sample
    without replacement)."""
    keyed: dict[tuple, list[tuple[float, Candidate, tuple[str, ...]]]] = defaultdict(list)
    stratum = stratum_of(rules)
    for c in calls:
        weight, why = weight_and_reasons(c, rules)
        u = unit(seed, c.call_id)
        keyed[stratum(c)].append((u ** (1.0 / weight) if weight != 1.0 else u, c, why))
    for group in keyed.values():
        group.sort(key=lambda item: (item[0], item[1].call_id), reverse=True)
    return keyed


def _draw_one_agent(calls: list[Candidate], quota: int, rules: PlanRules, rng: random.Random, seed: int,
                    sizes: dict[tuple, int] | None) -> list[tuple[Candidate, tuple[str, ...]]]:
    keyed = keyed_by_stratum(calls, rules, seed)
    if sizes is None:
        sizes = {s: len(g) for s, g in keyed.items()}
    if quota >= sum(sizes.values()):
        return [(c, why) for group in keyed.values() for _, c, why in group]
    allotment = _allot(quota, sizes, rng)
    chosen, rest = [], []
    for stratum in sorted(keyed):
        group = keyed[stratum]
        n = allotment.get(stratum, 0)
        chosen.extend(group[:n])
        rest.extend(group[n:])
    rest.sort(key=lambda item: (item[0], item[1].call_id), reverse=True)
    chosen.extend(rest[:quota - len(chosen)])
    return [(c, why) for _, c, why in chosen]


def _allot(quota: int, sizes: dict[tuple, int], rng: random.Random) -> dict[tuple, int]:
    """Calls per stratum: in proportion to the strata's sizes (largest remainder), at least
    one each while the quota allows. With fewer calls to give than strata, larger strata
    are more likely to get one (a random order weighted by size)."""
    names = sorted(s for s in sizes if sizes[s] > 0)
    order = sorted(names, key=lambda s: rng.random() ** (1.0 / sizes[s]), reverse=True)
    if quota <= len(names):
        return {s: 1 if i < quota else 0 for i, s in enumerate(order)}
    total = sum(sizes[s] for s in names)
    shares = {s: quota * sizes[s] / total for s in names}
    allot = {s: min(sizes[s], max(1, int(shares[s]))) for s in names}
    rank = {s: i for i, s in enumerate(order)}
    while sum(allot.values()) > quota:       # the minimum of one each overshot: take from the largest
        s = max((s for s in allot if allot[s] > 1), key=lambda s: (allot[s] - shares[s], -rank[s]))
        allot[s] -= 1
    while sum(allot.values()) < quota:
        room = [s for s in allot if allot[s] < sizes[s]]
        if not room:
            break
        s = max(room, key=lambda s: (shares[s] - allot[s], -rank[s]))
        allot[s] += 1
    return allot


# --- how sure an agent's average is ---------------------------------------------------------

# Student's t, two-sided 95%, by degrees of freedom (1–30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)
# The spread assumed while an agent has fewer than two scores (points on a 100 scale).
PRIOR_SD = 10.0


def t95(df: int) -> float:
    return _T95[df - 1] if 1 <= df <= len(_T95) else 1.96


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float | None
    low: float | None
    high: float | None

    @property
    def width(self) -> float | None:
        return None if self.low is None else self.high - self.low


def confidence_interval(scores: Sequence[float]) -> Interval:
    """The 95% interval of the mean (Student's t); none below two scores."""
    n = len(scores)
    if n == 0:
        return Interval(0, None, None, None)
    mean = sum(scores) / n
    if n < 2:
        return Interval(n, mean, None, None)
    sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def samples_needed(scores: Sequence[float], width: float) -> int:
    """How many scores in all make the 95% interval narrower than ``width``, at the spread
    seen so far (PRIOR_SD until there are two scores; at least 2)."""
    n = len(scores)
    sd = PRIOR_SD
    if n >= 2:
        mean = sum(scores) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / (n - 1))
    need = 2
    while need < 10_000 and 2 * t95(need - 1) * sd / math.sqrt(need) >= width:
        need += 1
    return need
