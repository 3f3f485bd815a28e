"""Flags that ask QA to listen to a call. Other domains (surveys, speech, supervisors) raise
them; the sampler reads them. This module is the whole contract between them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import QaFlag

# Why a call was flagged. The sampler treats any reason alike, by weight; the names are
# shown to inspectors.
SURVEY_DISSATISFIED = "survey_dissatisfied"   # the customer answered 不满意 on the 回访 call
SPEECH_CHECK = "speech_check"                 # the transcript broke a service-language rule
SUPERVISOR = "supervisor"                     # a supervisor asked for the call to be heard

REASON_LABELS = {
    SURVEY_DISSATISFIED: "回访不满意",
    SPEECH_CHECK: "服务用语检查未通过",
    SUPERVISOR: "主管指定",
}


def flag_call(session: Session, call_id: int, reason: str, *, weight: float = 1.0, detail: str = "") -> QaFlag:
    """Flag ``call_id`` for QA. Idempotent per (call, reason): a second flag keeps the larger
    weight and the newest detail. The caller commits."""
    if weight <= 0:
        raise ValueError("a QA flag's weight must be positive")
    flag = session.scalars(select(QaFlag).where(QaFlag.call_id == call_id, QaFlag.reason == reason)).first()
    if flag is None:
        flag = QaFlag(call_id=call_id, reason=reason, weight=weight, detail=detail)
        session.add(flag)
    else:
        flag.weight = max(flag.weight, weight)
        if detail:
            flag.detail = detail
    session.flush()
    return flag


def flags_for(session: Session, call_id: int) -> list[QaFlag]:
    return list(session.scalars(select(QaFlag).where(QaFlag.call_id == call_id).order_by(QaFlag.id)))
