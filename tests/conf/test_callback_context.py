"""Click-to-dial (回电): the dialplan context the AMI Originate names exists, reads the
variables the code sets, records and dials the customer through the trunk."""

from __future__ import annotations

from callcenter.ami import click_to_dial
from callcenter.config import Settings

from .asterisk_files import VARIABLE, dialplan


def test_callback_context_records_and_dials_the_customer():
    _globals, priorities = dialplan()
    context = Settings.model_fields["callback_dial_context"].default
    steps = [p for p in priorities if p.context == context]
    assert steps, f"[{context}] is missing from extensions.conf"
    read = {name for p in steps for name in VARIABLE.findall(p.data)}
    assert {click_to_dial.TASK_VARIABLE, click_to_dial.ATTEMPT_VARIABLE, click_to_dial.RECORDING_VARIABLE} <= read
    apps = [p.app for p in steps]
    assert apps.index("MixMonitor") < apps.index("Dial")
    assert any("${TRUNK}" in p.data for p in steps if p.app == "Dial")
    assert "CALLBACK_CALLERID" in _globals
