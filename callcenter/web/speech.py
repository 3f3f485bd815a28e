"""Transcripts beside the recording, for QA inspectors and supervisors.

The widget is a template partial (``speech/_transcript.html``) and a script
(``js/transcript.js``): any page includes it with ``call_id`` set and gets the player and
the transcript in step — the line being played is highlighted, a click on a line (or on a
check's moment) seeks the player there. Its data comes from ``transcript.json``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, jsonify, render_template, send_file

from callcenter.models import Call
from callcenter.services.speech.transcripts import transcript_view
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import QA, SUPERVISOR, roles_required

bp = Blueprint("speech", __name__, url_prefix="/speech")


@bp.route("/calls/<int:call_id>")
@roles_required(QA, SUPERVISOR)
def call_page(call_id: int):
    with unit_of_work() as s:
        call = s.get(Call, call_id)
        if call is None:
            abort(404)
        recording = call.recording_file.rsplit("/", 1)[-1]
    return render_template("speech/call.html", call_id=call_id, recording=recording)


@bp.route("/calls/<int:call_id>/transcript.json")
@roles_required(QA, SUPERVISOR)
def transcript(call_id: int):
    with unit_of_work() as s:
        if s.get(Call, call_id) is None:
            abort(404)
        return jsonify(transcript_view(s, call_id))


@bp.route("/calls/<int:call_id>/audio")
@roles_required(QA, SUPERVISOR)
def audio(call_id: int):
    """The call's mixed recording (byte ranges, so the player can seek)."""
    with unit_of_work() as s:
        call = s.get(Call, call_id)
        recording = call.recording_file if call is not None else ""
    if not recording:
        abort(404)
    root = Path(panel().settings.recordings_dir).resolve()
    path = (root / recording).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(path, mimetype="audio/wav", conditional=True)
