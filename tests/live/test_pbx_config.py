"""The shipped asterisk_conf/ as a real Asterisk 22 reads it: loads cleanly, the
contexts/queues/endpoints exist as written, the AMI user gets exactly its privileges,
the carrier trunk registers and the agents' phones authenticate."""

from __future__ import annotations

import re
import time

import pytest

from . import sipp
from .agents import sign_in
from .conftest import AMI_USER

pytestmark = pytest.mark.asterisk

# A private instance has only the call center's config files; a real /etc/asterisk
# also holds the sample files of every other module. What Asterisk says about
# modules that find no config file of their own (and decline to load, or run with
# defaults) is therefore expected here and says nothing about our files.
MISSING_CONFIG_NOISE = re.compile(
    r"Unable to load config|Unable to load \S+\.conf|Missing config file|"
    r"No such configuration file|file '[^']+' not found|Configuration file \S+ missing|"
    r"Could not find valid ccss\.conf|Can't find indications config file|"
    r"Failed to load configuration file\. Module activated with default settings|"
    r"No follow me config file|declined to load|Declined modules which depend on|"
    r"Some non-required modules failed to load|"
    r"Not logging C[DE]Rs? to custom|"
    # deprecation notices of modules autoload brings in
    r"has been loaded but may be removed in a future release")

# Modules the call center uses: none of them may decline.
NEEDED_MODULES = ("pbx_config", "chan_pjsip", "res_pjsip", "res_pjsip_session", "res_agi",
                  "app_queue", "app_mixmonitor", "app_stack", "res_pjsip_header_funcs",
                  "res_pjsip_registrar", "res_pjsip_outbound_registration", "cdr_manager",
                  "app_voicemail", "res_musiconhold", "func_strings", "func_channel",
                  "app_exec", "app_verbose", "app_dial")


def wait_until(read, expected, timeout: float = 20.0, every: float = 0.2):
    """Poll ``read()`` until it returns ``expected`` or the time is up; returns the last value."""
    deadline = time.monotonic() + timeout
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value


def startup_problems(lines: list[str]) -> list[str]:
    return [line for line in lines
            if re.search(r"\] (WARNING|ERROR)\[", line) and not MISSING_CONFIG_NOISE.search(line)]


def test_startup_log_has_no_warning_or_error_about_our_files(live):
    lines = live.pbx.boot_log
    assert lines
    assert any("Asterisk Ready" in line or "Fully Booted" in line for line in
               live.pbx.log_lines("full.log")), "the full log shows no completed start-up"
    assert startup_problems(lines) == []
    declined = [line for line in lines if "declined to load" in line or "Declined modules" in line]
    for module in NEEDED_MODULES:
        assert not any(re.search(rf"\b{module}\b", line) for line in declined), module


def test_every_needed_module_runs(live):
    for module in NEEDED_MODULES:
        out = live.pbx.cli(f"module show like {module}.so")
        assert re.search(rf"^{module}\.so .* Running", out, re.MULTILINE), out


def test_version_is_22(live):
    assert re.match(r"Asterisk 22\.", live.pbx.cli("core show version"))


def test_dialplan_contexts_and_hotline_numbers(live):
    shown = live.pbx.cli("dialplan show")
    for context in ("hotline", "cc-inbound", "cc-agent-leg", "agents", "survey"):
        assert f"[ Context '{context}' created by 'pbx_config' ]" in shown
    vip = live.pbx.cli("dialplan show 4008002000@hotline")
    assert "Set(LINE_QUEUE=vip)" in vip and "Set(LINE_PRIO=10)" in vip
    ordinary = live.pbx.cli("dialplan show 4008001000@hotline")
    assert "Set(LINE_QUEUE=general_q)" in ordinary and "Set(LINE_PRIO=0)" in ordinary
    inbound = live.pbx.cli("dialplan show cc-inbound")
    assert "AGI(${CALLCENTER_AGI}/route_call,${CHANNEL(linkedid)},${RECORDING_FILE})" in inbound
    globals_ = live.pbx.cli("dialplan show globals")
    assert f"CALLCENTER_AGI=agi://127.0.0.1:{live.pbx.ports.agi}" in globals_


def test_queues_as_configured(live):
    out = live.pbx.cli("queue show")
    assert re.search(r"^vip has 0 calls .* in 'ringall' strategy .* W:10,", out, re.MULTILINE), out
    assert re.search(r"^general_q has 0 calls .* in 'leastrecent' strategy .* W:0,", out, re.MULTILINE)
    assert re.search(r"^duty has 0 calls .* in 'ringall' strategy .* W:5,", out, re.MULTILINE)
    # No static members: a member is somebody who signed in at the console (QueueAdd).
    for queue in ("vip", "general_q", "duty"):
        members = [line for line in live.pbx.cli(f"queue show {queue}").splitlines()
                   if "(PJSIP/" in line]
        assert all("(dynamic)" in line for line in members), members
    sign_in(live, "PJSIP/agent1002", "vip", name="Agent 1002", penalty=1)
    vip = live.pbx.cli("queue show vip")
    assert re.search(r"Agent 1002 \(PJSIP/agent1002\) with penalty 1 .*\(dynamic\)", vip), vip
    live.ami.action("QueueRemove", Queue="vip", Interface="PJSIP/agent1002")


def test_agent_phone_templates(live):
    endpoints = live.pbx.cli("pjsip show endpoints")
    for name in ("agent1001", "agent1002", "agent1003", "trunk-provider"):
        assert re.search(rf"Endpoint:\s+{name}\b", endpoints), name

    def options(endpoint: str) -> dict[str, str]:
        out = live.pbx.cli(f"pjsip show endpoint {endpoint}")
        return dict(re.findall(r"^ (\w+)\s+: (.*?)\s*$", out, re.MULTILINE))

    desk, headset, trunk = options("agent1001"), options("agent1002"), options("trunk-provider")
    assert (desk["context"], headset["context"], trunk["context"]) == ("agents", "agents", "hotline")
    assert desk["direct_media"] == headset["direct_media"] == "false"
    assert (desk["rewrite_contact"], headset["rewrite_contact"]) == ("false", "true")
    assert (desk["rtp_symmetric"], headset["rtp_symmetric"]) == ("false", "true")
    assert desk["device_state_busy_at"] == "1"
    headset_aor = live.pbx.cli("pjsip show aor agent1002")
    assert re.search(r"qualify_frequency\s+: 20\b", headset_aor)
    assert re.search(r"remove_unavailable\s+: true", headset_aor)


def test_ami_user_has_exactly_the_granted_classes(live):
    out = live.pbx.cli(f"manager show user {AMI_USER}")
    assert re.search(r"read perm: system,call,agent,cdr\s*$", out, re.MULTILINE), out
    assert re.search(r"write perm: call,agent,reporting,originate\s*$", out, re.MULTILINE), out
    assert "allow - 127.0.0.1/255.255.255.255" in out and "deny - 0.0.0.0/0.0.0.0" in out


def test_ami_actions_the_callcenter_uses_are_allowed_and_others_refused(live):
    ami = live.ami
    assert ami.action("Ping")["Response"] == "Success"
    # Allowed: they reach the action itself (an error about the input, not a permission).
    response, items = ami.list_action("QueueStatus")
    assert response["Response"] == "Success"
    assert {item.get("Queue") for item in items if item.get("Event") == "QueueParams"} \
        == {"vip", "general_q", "duty"}
    response, _ = ami.list_action("CoreShowChannels")
    assert response["Response"] == "Success"
    pause = ami.action("QueuePause", Interface="PJSIP/nobody", Paused="true", Reason="test")
    assert pause["Response"] == "Error" and "ermission" not in pause["Message"]
    hangup = ami.action("Hangup", Channel="PJSIP/nobody-00000000")
    assert hangup == {**hangup, "Response": "Error", "Message": "No such channel"}
    # Refused: CLI commands, and an Originate that would run an application.
    command = ami.action("Command", Command="core show version")
    assert command["Response"] == "Error" and command["Message"] == "Permission denied"
    originate = ami.action("Originate", Channel="Local/s@survey", Application="AGI",
                           Data="agi://127.0.0.1/survey", Async="false")
    assert originate == {**originate, "Response": "Error",
                         "Message": "Originate Access Forbidden: app or data blacklisted"}


def test_trunk_registers_with_the_carrier(live):
    registrar = sipp.start("registrar", "uas_registrar.xml", live.sipp_dir("trunk_register"),
                           port=live.pbx.ports.trunk, calls=None)
    try:
        # (Re)start the registration now instead of after retry_interval.
        live.pbx.cli("pjsip send register trunk-provider-reg")
        status = wait_until(lambda: re.search(
            r"trunk-provider-reg/\S+\s+trunk-provider-auth\s+(\w+)",
            live.pbx.cli("pjsip show registrations")).group(1), "Registered")
    finally:
        registrar.stop()
    assert status == "Registered", registrar.diagnostics()
    registers = [line for line in registrar.log_lines() if not line.endswith("expires=0")]
    assert registers, registrar.log_lines()
    # contact_user at our SIP address, for 3600 s (expiration)
    assert f"CHANGE-ME@127.0.0.1:{live.pbx.ports.sip}" in registers[-1]
    assert registers[-1].endswith("expires=3600")


def test_agent_phone_with_a_wrong_password_is_refused(live):
    peer = sipp.start("bad_register", "uac_register.xml", live.sipp_dir("bad_password"),
                      remote=f"127.0.0.1:{live.pbx.ports.sip}", inject=[["agent1002", "5999", "600"]],
                      extra=["-au", "agent1002", "-ap", "not-the-password"])
    assert peer.wait(30) != 0
    assert "SIP/2.0 401" in (peer.workdir / "bad_register_messages.log").read_text()
    assert "agent1002" not in live.pbx.cli("pjsip show contacts")
