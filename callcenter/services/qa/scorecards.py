"""Scorecard templates: the rulebook's five dimensions with weights, yes/no checks, and
critical items that fail the whole call (REQUIREMENTS "Quality assurance").

A template version that a score uses never changes: an admin's edit of it makes the next
version of the same family, which new scores use; old scores keep theirs.
"""

from __future__ import annotations

import copy

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import QaScore, QaScorecard

STANDARD = "standard"

# A check is passed ("yes") or not ("no"). ``phrases`` names the service-language list the
# inspector is shown next to it (callcenter/services/qa/service_language.yaml, seed 001).
DEFAULT_DEFINITION: dict = {"dimensions": [
    {"key": "wording", "label": "服务用语", "weight": 25, "checks": [
        {"key": "greeting", "label": "接听问候语含公司名称和姓氏", "phrases": "greetings"},
        {"key": "no_rude_opener", "label": "未以“喂”“讲话”“找谁”等开头", "phrases": "rude_openers"},
        {"key": "polite", "label": "使用文明用语", "phrases": "polite"},
        {"key": "no_banned", "label": "未使用服务忌语", "phrases": "banned", "critical": True},
    ]},
    {"key": "attitude", "label": "服务态度", "weight": 25, "checks": [
        {"key": "three_voices", "label": "问声、应声、送声齐全", "phrases": "farewells"},
        {"key": "no_interrupt", "label": "未打断客户讲话"},
        {"key": "no_quarrel", "label": "未与客户争执", "critical": True},
    ]},
    {"key": "tone", "label": "语气语调", "weight": 15, "checks": [
        {"key": "friendly_tone", "label": "语气亲切、语速适中"},
        {"key": "no_negative", "label": "未使用否定词", "phrases": "negative"},
    ]},
    {"key": "summarising", "label": "客户需求的归纳能力", "weight": 20, "checks": [
        {"key": "restated", "label": "复述并确认客户的问题"},
        {"key": "recorded", "label": "需求完整记录（工单）"},
    ]},
    {"key": "adapting", "label": "接待客户应变能力", "weight": 15, "checks": [
        {"key": "concrete_time", "label": "给出具体时间和解决方案"},
        {"key": "no_rash_promise", "label": "未随意承诺"},
    ]},
]}


class ScorecardError(ValueError):
    pass


def validate(definition: dict) -> list[str]:
    """What is wrong with a template definition (empty: nothing)."""
    problems = []
    dims = definition.get("dimensions") if isinstance(definition, dict) else None
    if not dims:
        return ["至少需要一个评分维度"]
    keys: set[str] = set()
    total = 0.0
    for dim in dims:
        label = dim.get("label") or dim.get("key") or "?"
        if not dim.get("key") or not dim.get("label"):
            problems.append(f"维度 {label}: 缺少 key 或名称")
        try:
            weight = float(dim.get("weight", 0))
        except (TypeError, ValueError):
            weight = -1
        if weight <= 0:
            problems.append(f"维度 {label}: 权重必须为正数")
        total += max(weight, 0)
        if not dim.get("checks"):
            problems.append(f"维度 {label}: 至少需要一个检查项")
        for check in dim.get("checks") or ():
            key = check.get("key")
            if not key or not check.get("label"):
                problems.append(f"维度 {label}: 检查项缺少 key 或名称")
            elif key in keys:
                problems.append(f"检查项 {key} 重复")
            keys.add(key or "")
    if abs(total - 100) > 1e-6:
        problems.append(f"权重合计应为 100，现为 {total:g}")
    return problems


def current(session: Session, family: str = STANDARD) -> QaScorecard:
    """The version new scores use; the shipped template on a fresh site."""
    card = session.scalar(select(QaScorecard).where(QaScorecard.family == family, QaScorecard.current.is_(True))
                          .order_by(QaScorecard.version.desc()).limit(1))
    if card is None:
        card = QaScorecard(family=family, version=1, name="服务质量评分表", definition=copy.deepcopy(DEFAULT_DEFINITION),
                           current=True)
        session.add(card)
        session.flush()
    return card


def in_use(session: Session, card: QaScorecard) -> bool:
    return session.scalar(select(QaScore.id).where(QaScore.scorecard_id == card.id).limit(1)) is not None


def edit(session: Session, family: str, *, name: str, definition: dict, actor_id: int | None) -> QaScorecard:
    """An admin's edit. A version no score uses yet is changed in place; one in use stays
    as it is and the edit becomes the next version."""
    problems = validate(definition)
    if problems:
        raise ScorecardError("；".join(problems))
    card = current(session, family)
    if not in_use(session, card):
        card.name, card.definition = name, copy.deepcopy(definition)
        session.flush()
        return card
    card.current = False
    new = QaScorecard(family=family, version=card.version + 1, name=name, definition=copy.deepcopy(definition),
                      current=True, created_by_id=actor_id)
    session.add(new)
    session.flush()
    return new


def checks(definition: dict) -> list[dict]:
    return [check for dim in definition["dimensions"] for check in dim["checks"]]


def score(definition: dict, answers: dict[str, bool]) -> tuple[dict[str, float], float, list[str]]:
    """(points per dimension, total, failed critical checks). Each dimension earns its
    weight times the share of its checks passed; a failed critical check makes the total 0.
    Every check must be answered."""
    missing = [c["label"] for c in checks(definition) if c["key"] not in answers]
    if missing:
        raise ScorecardError("未评完的检查项：" + "、".join(missing))
    points = {}
    failed_critical = []
    for dim in definition["dimensions"]:
        passed = sum(1 for c in dim["checks"] if answers[c["key"]])
        points[dim["key"]] = round(float(dim["weight"]) * passed / len(dim["checks"]), 2)
        failed_critical += [c["key"] for c in dim["checks"] if c.get("critical") and not answers[c["key"]]]
    total = 0.0 if failed_critical else round(sum(points.values()), 2)
    return points, total, failed_critical
