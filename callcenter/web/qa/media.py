"""Recordings over HTTP: the file named in the calls row, with range requests so the
player can seek; every playback and download in the audit log."""

from __future__ import annotations

from flask import abort, request, send_file
from flask_login import current_user

from callcenter.models import Call
from callcenter.services.people import audit
from callcenter.services.qa import recordings
from callcenter.web.context import panel, unit_of_work
from callcenter.web.qa.blueprint import LISTENERS, bp, may_hear
from callcenter.web.roles import roles_required

PLAY, DOWNLOAD = "play", "download"


def _starts_playback() -> bool:
    """A request from the first byte (or without a range) starts a playback; the player's
    later range requests while seeking are the same playback and are not logged again."""
    ranges = request.range
    if ranges is None or not ranges.ranges:
        return True
    return ranges.ranges[0][0] == 0


@bp.route("/calls/<int:call_id>/recording")
@roles_required(*LISTENERS)
def recording(call_id: int):
    side = request.args.get("side", "mix")
    if side not in recordings.SIDES:
        abort(404)
    download = request.args.get("download") == "1"
    with unit_of_work() as s:
        call = may_hear(s.get(Call, call_id))
        located = recordings.locate(panel().settings, call, side)
        if located.path is None:
            abort(404)
        if download or _starts_playback():
            audit.record(s, user_id=current_user.id, action=DOWNLOAD if download else PLAY,
                         object_type="recording", object_id=call.id,
                         detail=f"side={side} range={request.headers.get('Range', '')}"[:200])
    response = send_file(located.path, mimetype="audio/wav", conditional=True, as_attachment=download,
                         download_name=f"call-{call_id}{'' if side == 'mix' else '-' + side}.wav", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
