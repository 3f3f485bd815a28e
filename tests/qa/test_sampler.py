"""The sampler's rules on plain rows: quotas, strata, over-sampling, exclusions, the
confidence interval, reproducibility."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from callcenter.services.qa.sampling import (
    Candidate,
    PlanRules,
    agent_quota,
    confidence_interval,
    draw,
    samples_needed,
)


def population(agents=(1, 2, 3), per_agent=60, seed=0, **overrides):
    rng = random.Random(seed)
    rows, next_id = [], 1
    for agent in agents:
        for _ in range(per_agent):
            rows.append(Candidate(call_id=next_id, agent_id=agent, line=rng.choice(["vip", "ordinary"]),
                                  queue=rng.choice(["vip", "general_q"]),
                                  ticket_type=rng.choice(["", "repair", "consultation"]),
                                  talk_seconds=rng.randint(120, 600), **overrides))
            next_id += 1
    return rows


def test_every_agent_gets_the_quota():
    picks = draw(population(), PlanRules(quota_per_agent=5), seed=7)
    assert Counter(p.agent_id for p in picks) == {1: 5, 2: 5, 3: 5}
    assert len({p.call_id for p in picks}) == 15


def test_an_agent_with_fewer_calls_than_the_quota_gets_them_all():
    rows = population(agents=(1,), per_agent=3)
    assert sorted(p.call_id for p in draw(rows, PlanRules(quota_per_agent=5), seed=1)) == [1, 2, 3]


def test_same_seed_same_draw_and_another_seed_another_draw():
    rows = population()
    first = draw(rows, PlanRules(), seed=42)
    assert draw(list(reversed(rows)), PlanRules(), seed=42) == first   # input order does not matter
    assert draw(rows, PlanRules(), seed=43) != first


def test_one_agent_s_draw_does_not_depend_on_the_others():
    rows = population()
    alone = [p for p in draw([r for r in rows if r.agent_id == 2], PlanRules(), seed=5)]
    together = [p for p in draw(rows, PlanRules(), seed=5) if p.agent_id == 2]
    assert alone == together


def test_every_stratum_the_agent_worked_in_is_heard_when_the_quota_allows():
    rows = [Candidate(i, 1, line="ordinary", queue="general_q", talk_seconds=200) for i in range(1, 98)]
    rows += [Candidate(98, 1, line="vip", queue="vip", talk_seconds=200),
             Candidate(99, 1, line="vip", queue="vip", ticket_type="repair", talk_seconds=200)]
    for seed in range(30):
        picked = {p.call_id for p in draw(rows, PlanRules(quota_per_agent=3), seed=seed)}
        assert {98, 99} <= picked, seed


def test_strata_beyond_one_call_each_follow_their_size():
    rows = [Candidate(i, 1, line="ordinary", talk_seconds=200) for i in range(1, 81)]
    rows += [Candidate(i, 1, line="vip", talk_seconds=200) for i in range(81, 101)]
    rules = PlanRules(quota_per_agent=10, strata=("line",))
    counts = Counter("vip" if p.call_id > 80 else "ordinary" for p in draw(rows, rules, seed=3))
    assert counts == {"ordinary": 8, "vip": 2}


def test_the_stratum_is_given_as_a_reason():
    (pick,) = draw([Candidate(1, 1, line="vip", queue="vip", ticket_type="repair", talk_seconds=200)],
                   PlanRules(quota_per_agent=1), seed=1)
    assert pick.reasons[0] == "stratum:line=vip/queue=vip/ticket_type=repair"


@pytest.mark.parametrize("flag, expect", [
    ({"complaint": True}, "complaint"), ({"flag_weight": 1.0}, "flagged"), ({"talk_seconds": 30}, "short"),
    ({"talk_seconds": 2000}, "long")])
def test_complaints_flags_and_very_short_or_long_calls_are_over_sampled(flag, expect):
    rules = PlanRules(quota_per_agent=5, strata=())
    special = set(range(1, 11))
    hits = 0
    for seed in range(200):
        rows = [Candidate(i, 1, **{"talk_seconds": 300, **(flag if i in special else {})}) for i in range(1, 101)]
        picks = draw(rows, rules, seed=seed)
        hits += sum(1 for p in picks if p.call_id in special)
        assert all(expect in p.reasons for p in picks if p.call_id in special)
    # 10% of the calls; unweighted they would be ~10% of the picks, weighted 2-3×: clearly more (seeds fixed: deterministic).
    assert hits / (200 * 5) > 0.14


def test_over_sampling_does_not_crowd_out_ordinary_calls():
    # Half the calls are complaints (weight 3): ordinary calls still get about a quarter of
    # the picks (a weight, not a rule that complaints come first).
    rows = [Candidate(i, 1, talk_seconds=300, complaint=i <= 50) for i in range(1, 101)]
    picks = [p for seed in range(100) for p in draw(rows, PlanRules(quota_per_agent=10, strata=()), seed=seed)]
    ordinary = sum(1 for p in picks if p.call_id > 50) / len(picks)
    assert 0.15 < ordinary < 0.45


def test_calls_shorter_than_the_minimum_are_never_drawn():
    rows = [Candidate(i, 1, talk_seconds=10 if i % 2 else 300) for i in range(1, 41)]
    picks = draw(rows, PlanRules(quota_per_agent=20, min_talk_seconds=20), seed=1)
    assert len(picks) == 20 and all(p.call_id % 2 == 0 for p in picks)


def test_new_agents_are_heard_more():
    rows = population(agents=(1, 2))
    picks = draw(rows, PlanRules(quota_per_agent=5, new_agent_factor=2.0), seed=1, new_agents=frozenset({2}))
    assert Counter(p.agent_id for p in picks) == {1: 5, 2: 10}
    assert all("new_agent" in p.reasons for p in picks if p.agent_id == 2)


def test_a_wide_interval_raises_the_quota_until_the_width_is_reached():
    spread = [60.0, 95.0, 70.0, 90.0]
    tight = [85.0, 86.0, 85.0, 86.0]
    rules = PlanRules(quota_per_agent=5, ci_width=10.0)
    assert agent_quota(rules, new_agent=False, scores=tight) == 5
    wide = agent_quota(rules, new_agent=False, scores=spread)
    assert wide > 5
    need = samples_needed(spread, 10.0)
    assert wide == min(need - len(spread), rules.max_per_agent)
    # With that many scores at this spread the interval is narrower than the width.
    assert confidence_interval(spread * (need // 4 + 1)).width < 10.0 + 1e-9


def test_confidence_interval_of_known_values():
    ci = confidence_interval([80.0, 90.0])
    assert ci.mean == 85.0 and ci.low == pytest.approx(85 - 12.706 * 7.0710678 / 1.4142136, rel=1e-4)
    assert confidence_interval([80.0]).low is None and confidence_interval([]).mean is None


def test_bad_rules_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown strata"):
        PlanRules(strata=("colour",))
    with pytest.raises(ValueError, match="quota"):
        PlanRules(quota_per_agent=0)
    with pytest.raises(ValueError, match="unknown plan rules"):
        PlanRules.from_dict({"quota": 3})
    assert PlanRules.from_dict(PlanRules(ci_width=8.0).to_dict()) == PlanRules(ci_width=8.0)
