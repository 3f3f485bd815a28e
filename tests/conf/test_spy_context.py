"""Listen/whisper/barge: the [cc-spy] extensions the listener originates into exist and
ChanSpy each with the right options on the agent's channels only."""

from __future__ import annotations

from callcenter.ami import supervision

from .asterisk_files import dialplan


def test_spy_context_has_one_chanspy_per_mode():
    _globals, priorities = dialplan()
    steps = [p for p in priorities if p.context == supervision.SPY_CONTEXT]
    spies = {p.exten: p.data for p in steps if p.app == "ChanSpy"}
    expected_options = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}
    for mode in supervision.MODES:
        # An N, X or Z outside brackets is a pattern letter: "listen" has its n bracketed.
        exten = "_" + mode.replace("n", "[n]") + "-."
        assert exten in spies, f"[{supervision.SPY_CONTEXT}] has no {exten}"
        prefix, options = spies[exten].split(",")
        # ${EXTEN:n} strips "<mode>-": what is left is the device, and "-" ends the prefix.
        assert prefix == f"PJSIP/${{EXTEN:{len(mode) + 1}}}-"
        assert options == expected_options[mode]
    spy = supervision.Spy(interface="PJSIP/agent1003", target="PJSIP/agent1001", mode="whisper")
    assert spy.exten == "whisper-agent1001"
