"""Scores, corrections, comments and appeals (申诉).

A submitted score is never changed (models/qa.py refuses any UPDATE of a qa_scores row):
a correction — an inspector's, with a reason, or the outcome of an upheld appeal — is the
next version of the call's score, and the history shows every version.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, QaAppeal, QaAssignment, QaComment, QaScore, QaScorecard, Role, User
from callcenter.services.qa import scorecards


class ScoringError(ValueError):
    """Refused as asked; the message (Chinese) says why."""


def history(session: Session, call_id: int) -> list[QaScore]:
    return list(session.scalars(select(QaScore).where(QaScore.call_id == call_id).order_by(QaScore.version)))


def latest(session: Session, call_id: int) -> QaScore | None:
    return session.scalar(select(QaScore).where(QaScore.call_id == call_id)
                          .order_by(QaScore.version.desc()).limit(1))


def _new_version(session: Session, call: Call, card: QaScorecard, *, inspector_id: int, answers: dict,
                 comment: str, reason: str, previous: QaScore | None,
                 assignment_id: int | None = None) -> QaScore:
    points, total, failed = scorecards.score(card.definition, answers)
    row = QaScore(call_id=call.id, version=(previous.version + 1) if previous else 1,
                  supersedes_id=previous.id if previous else None,
                  assignment_id=assignment_id if previous is None else previous.assignment_id,
                  scorecard_id=card.id, agent_id=call.answered_by_user_id, inspector_id=inspector_id,
                  answers={k: bool(v) for k, v in answers.items()}, dimensions=points, total=total,
                  critical_failed=bool(failed), failed_critical=failed, comment=comment.strip(),
                  reason=reason.strip(), submitted_at=utcnow())
    session.add(row)
    session.flush()
    return row


def submit(session: Session, call: Call, inspector: User, answers: dict, *, comment: str = "") -> QaScore:
    """The first score of a call, on the current scorecard."""
    if call.answered_by_user_id is None:
        raise ScoringError("此通话没有接听坐席，无法评分")
    if call.answered_by_user_id == inspector.id:
        raise ScoringError("不能给自己接听的通话评分")
    if latest(session, call.id) is not None:
        raise ScoringError("此通话已评分；如需更正请提交更正版本并说明理由")
    assignment = session.scalar(select(QaAssignment).where(QaAssignment.call_id == call.id,
                                                           QaAssignment.status == "pending").limit(1))
    row = _new_version(session, call, scorecards.current(session), inspector_id=inspector.id, answers=answers,
                       comment=comment, reason="", previous=None,
                       assignment_id=assignment.id if assignment else None)
    if assignment is not None:
        assignment.status = "scored"
    return row


def correct(session: Session, call: Call, actor: User, answers: dict, *, reason: str, comment: str = "",
            deciding_appeal: bool = False) -> QaScore:
    """A new version of the call's score; the earlier ones stay as they were. While an
    appeal is open only its decision may correct the score."""
    previous = latest(session, call.id)
    if previous is None:
        raise ScoringError("此通话尚未评分，无需更正")
    if not deciding_appeal and open_appeal(session, call.id) is not None:
        raise ScoringError("此通话有待处理的申诉，请等待主管处理后再更正")
    if not reason.strip():
        raise ScoringError("更正必须说明理由")
    if call.answered_by_user_id == actor.id:
        raise ScoringError("不能给自己接听的通话评分")
    return _new_version(session, call, previous.scorecard, inspector_id=actor.id, answers=answers,
                        comment=comment or previous.comment, reason=reason, previous=previous)


def add_comment(session: Session, call: Call, author: User, at_seconds: float, text: str) -> QaComment:
    text = (text or "").strip()
    if not text:
        raise ScoringError("批注内容不能为空")
    if at_seconds is None or not math.isfinite(at_seconds) or at_seconds < 0:
        raise ScoringError("批注时间点无效")
    comment = QaComment(call_id=call.id, author_id=author.id, at_seconds=round(float(at_seconds), 2),
                        text=text[:2000], created_at=utcnow())
    session.add(comment)
    session.flush()
    return comment


def comments(session: Session, call_id: int) -> list[QaComment]:
    return list(session.scalars(select(QaComment).where(QaComment.call_id == call_id)
                                .order_by(QaComment.at_seconds, QaComment.id)))


# --- appeals ---------------------------------------------------------------------------------

def appeal_deadline(settings: Settings, score: QaScore) -> dt.datetime:
    return score.submitted_at + dt.timedelta(days=settings.qa_appeal_days)


def appeal(session: Session, settings: Settings, score: QaScore, agent: User, reason: str,
           *, now: dt.datetime | None = None) -> QaAppeal:
    now = now or utcnow()
    if score.agent_id != agent.id:
        raise ScoringError("只能对自己的评分提出申诉")
    if latest(session, score.call_id).id != score.id:
        raise ScoringError("此评分已有更新版本，请对最新版本申诉")
    if not reason.strip():
        raise ScoringError("申诉必须说明理由")
    if now > appeal_deadline(settings, score):
        raise ScoringError(f"已超过申诉期限（评分后 {settings.qa_appeal_days} 天内）")
    if open_appeal(session, score.call_id) is not None:
        raise ScoringError("此通话已有待处理的申诉")
    row = QaAppeal(score_id=score.id, call_id=score.call_id, agent_id=agent.id, reason=reason.strip()[:2000],
                   created_at=now)
    session.add(row)
    session.flush()
    return row


def open_appeal(session: Session, call_id: int) -> QaAppeal | None:
    return session.scalar(select(QaAppeal).where(QaAppeal.call_id == call_id, QaAppeal.status == "open").limit(1))


def appeals(session: Session, call_id: int) -> list[QaAppeal]:
    return list(session.scalars(select(QaAppeal).where(QaAppeal.call_id == call_id).order_by(QaAppeal.id)))


def open_appeals(session: Session) -> list[QaAppeal]:
    return list(session.scalars(select(QaAppeal).where(QaAppeal.status == "open").order_by(QaAppeal.id)))


def decide(session: Session, appeal_row: QaAppeal, supervisor: User, *, upheld: bool, note: str,
           answers: dict | None = None) -> QaAppeal:
    """A supervisor's decision. Upheld: ``answers`` become the corrected score version."""
    if supervisor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise ScoringError("只有主管可以处理申诉")
    if appeal_row.status != "open":
        raise ScoringError("此申诉已处理")
    if not note.strip():
        raise ScoringError("请填写处理意见")
    if upheld:
        if not answers:
            raise ScoringError("申诉成立时请给出更正后的评分")
        call = session.get(Call, appeal_row.call_id)
        corrected = correct(session, call, supervisor, answers, reason=f"申诉成立：{note.strip()}",
                            deciding_appeal=True)
        appeal_row.corrected_score_id = corrected.id
    appeal_row.status = "upheld" if upheld else "rejected"
    appeal_row.decided_by_id = supervisor.id
    appeal_row.decided_at = utcnow()
    appeal_row.decision_note = note.strip()[:2000]
    session.flush()
    return appeal_row
