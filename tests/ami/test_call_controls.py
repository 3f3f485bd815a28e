"""The [cc-transfer] extension each transfer target becomes, and what the AMI owner
refuses before it sends anything."""

from __future__ import annotations

import pytest

from callcenter.ami import call_controls


@pytest.mark.parametrize("kind, target, exten", [
    ("agent", "PJSIP/agent1002", "agent1002"),
    ("queue", "general_q", "queue-general_q"),
    ("number", "+86 138-0013-8000", "8613800138000"),
    ("number", "010-65529988", "01065529988"),
])
def test_transfer_targets_become_cc_transfer_extensions(kind, target, exten):
    assert call_controls.transfer_exten(kind, target) == exten


@pytest.mark.parametrize("kind, target", [
    ("agent", "agent1002"), ("agent", "PJSIP/a&b"), ("queue", "vip,duty"), ("number", "12"),
    ("number", "138001380001380013800"), ("fax", "1"),
])
def test_bad_targets_are_refused(kind, target):
    with pytest.raises(call_controls.InvalidControl):
        call_controls.transfer_exten(kind, target)


def test_a_request_with_a_smuggled_header_is_refused_without_touching_asterisk():
    class NoAMI:
        async def wait_connected(self, _timeout):
            raise AssertionError("nothing may be sent")

    import asyncio
    answer = asyncio.run(call_controls.execute(NoAMI(), {
        "action": "CallControl", "op": "hangup", "interface": "PJSIP/agent1001",
        "uniqueid": "1.1\r\nAction: Originate"}, {"request_id": "r1"}))
    assert answer["ok"] is False and answer["message"].startswith("invalid request: uniqueid")
