"""A call's recording files: where they are, whether they can be served, retention.

The path of a file always comes from the calls row (never from a request) and is only
served when it resolves, symlinks followed, to a regular file inside ``recordings_dir``:
a ``..``, an absolute path elsewhere or a symlink pointing out is refused the same way as
a missing file.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, QaAppeal, QaAssignment, QaScore
from callcenter.services.calls.recording_names import side_files

SIDES = ("mix", "caller", "agent")


class State(str, enum.Enum):
    OK = "ok"
    NONE = "none"              # the call was not recorded (never answered, or before recording)
    PURGED = "purged"          # retention removed it
    MISSING = "missing"        # the row names a file that is not there
    UNREADABLE = "unreadable"  # there, but this process may not read it
    OUTSIDE = "outside"        # the name points outside recordings_dir: never served


STATE_LABELS = {
    State.OK: "可播放",
    State.NONE: "此通话没有录音",
    State.PURGED: "录音已按保留期限删除",
    State.MISSING: "录音文件缺失（请联系管理员）",
    State.UNREADABLE: "录音文件无法读取（权限不足）",
    State.OUTSIDE: "录音路径不在录音目录内，已拒绝",
}


@dataclass(frozen=True)
class Located:
    state: State
    path: Path | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def recording_sides(call: Call) -> tuple[str, str]:
    """(caller_path, agent_path): the names of the caller-only and agent-only files, as
    stored (relative to recordings_dir, or absolute inside it); for rows from before the
    side files were stored, the names the dialplan gives them. ("", "") = not recorded.
    Resolve them with :func:`locate_name` before opening."""
    if call.recording_caller_file or call.recording_agent_file:
        return call.recording_caller_file, call.recording_agent_file
    return side_files(call.recording_file)


def file_name(call: Call, side: str = "mix") -> str:
    if side == "mix":
        return call.recording_file
    if side not in SIDES:
        raise ValueError(f"unknown recording side {side!r}")
    caller, agent = recording_sides(call)
    return caller if side == "caller" else agent


def locate_name(settings: Settings, name: str) -> Located:
    """Where the file named ``name`` (from the database) is, if it may be served."""
    if not name:
        return Located(State.NONE)
    root = Path(settings.recordings_dir).resolve()
    candidate = Path(name)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError):   # a symlink loop
        return Located(State.OUTSIDE)
    if not resolved.is_relative_to(root) or resolved == root:
        return Located(State.OUTSIDE)
    if not resolved.is_file():
        return Located(State.MISSING)
    if not os.access(resolved, os.R_OK):
        return Located(State.UNREADABLE)
    return Located(State.OK, resolved)


def locate(settings: Settings, call: Call, side: str = "mix") -> Located:
    if call.recording_purged_at is not None:
        return Located(State.PURGED)
    return locate_name(settings, file_name(call, side))


# --- retention ---------------------------------------------------------------------------

@dataclass
class PurgeReport:
    cutoff: dt.datetime
    dry_run: bool
    calls: list[int] = field(default_factory=list)        # calls whose files were (or would be) removed
    files: list[str] = field(default_factory=list)        # paths removed
    kept_for_review: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)      # names outside recordings_dir: left alone
    freed_bytes: int = 0

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"recordings older than {self.cutoff:%Y-%m-%d %H:%M} UTC: {verb} {len(self.files)} file(s) "
                f"of {len(self.calls)} call(s), {self.freed_bytes / 1_048_576:.1f} MB; "
                f"kept {len(self.kept_for_review)} under review or appeal"
                + (f"; refused {len(self.refused)} outside the recordings directory" if self.refused else ""))


def _under_review(session: Session, settings: Settings, now: dt.datetime) -> set[int]:
    """Calls still being reviewed (drawn, not scored yet), scored so recently that the agent
    may still appeal, or under an open appeal."""
    pending = select(QaAssignment.call_id).where(QaAssignment.status == "pending")
    appealable = select(QaScore.call_id).where(
        QaScore.submitted_at >= now - dt.timedelta(days=settings.qa_appeal_days))
    appealed = select(QaAppeal.call_id).where(QaAppeal.status == "open")
    return set(session.scalars(pending.union(appealable, appealed)))


def purge(session: Session, settings: Settings, *, dry_run: bool = False,
          now: dt.datetime | None = None, limit: int = 5000) -> PurgeReport:
    """Delete the recordings of calls that started more than ``recording_retention_days``
    ago, except calls under review or appeal. The row keeps its file names and gets
    ``recording_purged_at``, so the page says why nothing plays. The caller commits."""
    now = now or utcnow()
    report = PurgeReport(cutoff=now - dt.timedelta(days=settings.recording_retention_days), dry_run=dry_run)
    protected = _under_review(session, settings, now)
    expired = session.scalars(
        select(Call).where(Call.started_at < report.cutoff, Call.recording_file != "",
                           Call.recording_purged_at.is_(None)).order_by(Call.id).limit(limit))
    for call in expired:
        if call.id in protected:
            report.kept_for_review.append(call.id)
            continue
        _purge_call(settings, call, report, now)
    return report


def _purge_call(settings: Settings, call: Call, report: PurgeReport, now: dt.datetime) -> None:
    report.calls.append(call.id)
    for side in SIDES:
        name = file_name(call, side)
        located = locate_name(settings, name)
        if located.state is State.OUTSIDE and name:
            report.refused.append(name)
        if located.path is None:
            continue
        report.files.append(str(located.path))
        report.freed_bytes += located.path.stat().st_size
        if not report.dry_run:
            located.path.unlink(missing_ok=True)
    if not report.dry_run:
        call.recording_purged_at = now


def has_recording_clause():
    """Calls whose recording can still be heard (for the sampler's SQL)."""
    return (Call.recording_file != "") & Call.recording_purged_at.is_(None)

