"""The shipped asterisk_conf/ and the Python code name the same things: channel
variables, AGI routes and address, queues and hotline numbers, the AMI user; and no
file carries a real secret."""

from __future__ import annotations

import re

import pytest

from callcenter.agi import variables as V
from callcenter.config import Settings

from .asterisk_files import (
    CONF_DIR,
    VARIABLE,
    Priority,
    dialplan,
    pjsip_objects,
    read_sections,
)

PLACEHOLDER = "CHANGE-ME"


def default(name: str):
    """A setting's shipped default (not whatever the environment says)."""
    return Settings.model_fields[name].default


@pytest.fixture(scope="module")
def plan() -> tuple[dict[str, str], list[Priority]]:
    return dialplan()


def inbound(plan) -> tuple[list[Priority], int]:
    """[cc-inbound] and the index of its route_call AGI."""
    priorities = [p for p in plan[1] if p.context == "cc-inbound"]
    [agi] = [i for i, p in enumerate(priorities) if p.app == "AGI" and "/route_call," in p.data]
    return priorities, agi


def route_names(plan) -> set[str]:
    return {m for p in plan[1] if p.app == "AGI"
            for m in re.findall(r"\$\{CALLCENTER_AGI\}/(\w+)", p.data)}


# --- channel variables ------------------------------------------------------------------------

def test_variables_read_after_route_call_are_route_variables(plan):
    priorities, agi = inbound(plan)
    read = {name for p in priorities[agi + 1:] for name in VARIABLE.findall(p.data)}
    ours = {name for name in read if name.startswith("CC_") or name == V.QUEUE_PRIO}
    # What the dialplan acts on: if these were not read, this test would prove nothing.
    assert {V.ROUTE, V.QUEUE, V.QUEUE_PRIO, V.ROUTE_DONE, V.POP_KEY} <= ours
    assert ours <= set(V.ROUTE_VARIABLES) | set(V.AFTER_HOURS_VARIABLES)


def test_after_hours_result_is_cleared_before_the_route_sets_it(plan):
    priorities, _ = inbound(plan)
    agi = next(i for i, p in enumerate(priorities) if p.app == "AGI" and "/after_hours," in p.data)
    assert priorities[agi - 1].app == "Set" and priorities[agi - 1].data == f"{V.CALLBACK_TASK}="
    assert f"${{{V.CALLBACK_TASK}}}" in priorities[agi + 1].data     # read by the check right after


def test_every_route_variable_has_a_default_before_route_call(plan):
    priorities, agi = inbound(plan)
    defaults = {}
    for p in priorities[:agi]:
        if p.app == "Set":
            name, _, value = p.data.partition("=")
            defaults[name] = value
    assert set(V.ROUTE_VARIABLES) <= set(defaults)
    assert defaults[V.ROUTE] == "queue"
    assert defaults[V.ROUTE_REASON] == "fallback"


def test_dialplan_branches_on_the_route_values_route_call_sends(plan):
    from callcenter.services.calls.routing import RouteAction

    priorities, agi = inbound(plan)
    after = " ".join(p.data for p in priorities[agi + 1:])
    compared = set(re.findall(r'"\$\{CC_ROUTE\}" [!=]+ "(\w+)"', after))
    assert compared == {RouteAction.AFTER_HOURS.value}      # anything else queues
    assert {a.value for a in RouteAction} == {"queue", "after_hours"}
    # AGISTATUS is checked right after each AGI.
    for i, p in enumerate(priorities):
        if p.app == "AGI":
            assert "${AGISTATUS}" in priorities[i + 1].data, p


def test_cdr_mappings_name_cdr_variables_the_dialplan_sets(plan):
    [general, mappings] = read_sections("cdr_manager.conf")
    assert general.get("enabled") == "yes"
    # cdr_manager reads ${CDR(name)}: a plain channel variable would come out empty.
    set_in_cdr = {m.group(1): m.group(2) for p in plan[1] if p.app == "Set"
                  if (m := re.fullmatch(r"CDR\((\w+)\)=\$\{(\w+)\}", p.data))}
    assert mappings.options
    for variable, header in mappings.options:
        assert variable == header
        assert set_in_cdr.get(variable) == variable
        assert variable in set(V.ROUTE_VARIABLES) | {"RECORDING_FILE"}


# --- FastAGI --------------------------------------------------------------------------------------

def test_agi_address_is_the_default_fastagi_server(plan):
    globals_, _ = plan
    assert globals_["CALLCENTER_AGI"] == f"agi://{default('agi_host')}:{default('agi_port')}"


def test_agi_routes_in_the_dialplan_are_served(plan):
    from callcenter.agi.handlers import default_registry

    used = route_names(plan)
    assert {"route_call", "after_hours", "survey"} <= used
    served = set(default_registry().names())
    # The follow-up survey route is wired in the dialplan ahead of its handler (a
    # later feature); every other route must be served.
    assert used - {"survey"} <= served


def test_route_call_gets_linkedid_and_recording_name(plan):
    priorities, agi = inbound(plan)
    assert priorities[agi].data == "${CALLCENTER_AGI}/route_call,${CHANNEL(linkedid)},${RECORDING_FILE}"
    setters = [p for p in priorities[:agi] if p.app == "Set" and p.data.startswith("RECORDING_FILE=")]
    assert setters and "${UNIQUEID}" in setters[0].data


# --- queues and hotline numbers ----------------------------------------------------------------

def queue_sections():
    return {s.name: s for s in read_sections("queues.conf") if s.name != "general" and not s.is_template}


def test_queues_are_the_example_queues():
    from callcenter.services.setup import defaults

    queues = queue_sections()
    assert set(queues) == {"vip", "general_q", "duty"}
    assert {default("vip_queue"), default("default_queue")} <= set(queues)
    assert {name for name, _, _ in defaults.DEFAULT_QUEUES} == set(queues)
    assert "general" not in queues          # [general] is the global section
    for name, section in queues.items():
        keys = {k for k, _ in section.options}
        assert "eventwhencalled" not in keys and "eventmemberstatus" not in keys, name


def test_queues_have_no_static_members():
    """An agent is rung only after signing in at the console (AMI QueueAdd): a static
    member would ring a phone nobody sits at, and the panel could not remove it."""
    for name, section in queue_sections().items():
        assert section.all("member") == [], name
    general = next(s for s in read_sections("queues.conf") if s.name == "general")
    assert general.get("persistentmembers") == "yes"


def test_hotline_numbers_match_the_example_lines(plan):
    from callcenter.services.setup import defaults

    _, priorities = plan
    hotline: dict[str, dict[str, str]] = {}
    for p in priorities:
        if p.context == "hotline" and p.app == "Set":
            name, _, value = p.data.partition("=")
            hotline.setdefault(p.exten, {})[name] = value
    prio = {"vip": default("priority_vip"), "ordinary": default("priority_normal")}
    expected = {number: {"LINE_QUEUE": queue, "LINE_PRIO": str(prio[str(kind.value)]),
                         "LINE_KIND": kind.value}
                for number, _name, kind, queue, _duty, _flow in defaults.DEFAULT_LINES}
    assert {k: v for k, v in hotline.items() if not k.startswith("_")} == expected
    assert expected["4008002000"]["LINE_QUEUE"] == "vip"
    assert expected["4008001000"]["LINE_QUEUE"] == "general_q"
    # An unknown number is still answered, like the ordinary line.
    assert hotline["_[0-9+]."] == {"LINE_QUEUE": default("default_queue"),
                                   "LINE_PRIO": str(default("priority_normal")), "LINE_KIND": "unknown"}
    queues = queue_sections()
    for number, _name, _kind, queue, duty, _flow in defaults.DEFAULT_LINES:
        assert queue in queues and duty in queues, number


def test_trunk_delivers_into_the_hotline_and_agents_dial_from_agents(plan):
    contexts = {p.context for p in plan[1]}
    endpoints = pjsip_objects("endpoint")
    assert endpoints["trunk-provider"]["context"] == "hotline"
    assert {e["context"] for name, e in endpoints.items() if name.startswith("agent")} == {"agents"}
    assert {"hotline", "agents", "survey"} <= contexts


# --- AMI --------------------------------------------------------------------------------------------

def test_ami_user_matches_the_settings_and_is_least_privilege():
    sections = {s.name: s for s in read_sections("manager.conf")}
    general = sections["general"]
    assert general.get("enabled") == "yes"
    assert general.get("bindaddr") == default("ami_host") == "127.0.0.1"
    assert int(general.get("port")) == default("ami_port")
    assert general.get("webenabled") == "no"
    user = sections[default("ami_username")]
    assert set(sections) == {"general", default("ami_username")}
    assert user.get("secret") == default("ami_secret") == PLACEHOLDER
    assert user.all("deny") == ["0.0.0.0/0.0.0.0"]
    assert user.all("permit") == ["127.0.0.1/255.255.255.255"]
    assert set(user.get("read").split(",")) == {"system", "call", "agent", "cdr"}
    assert set(user.get("write").split(",")) == {"agent", "call", "originate", "reporting"}


# --- secrets ----------------------------------------------------------------------------------------

def test_no_real_secret_in_any_file():
    checked = 0
    for path in sorted(CONF_DIR.glob("*.conf")):
        for section in read_sections(path.name):
            for key, value in section.options:
                if key in ("password", "secret", "md5_cred", "passphrase", "priv_key_pass"):
                    assert value == PLACEHOLDER, f"{path.name} [{section.name}] {key}"
                    checked += 1
                if path.name == "voicemail.conf" and section.name != "general":
                    pin = value.split(",")[0]
                    assert pin == PLACEHOLDER, f"voicemail box {key}"
                    checked += 1
    assert checked >= 6        # three agents, the trunk, the AMI user, the mailbox
    # The carrier account is a placeholder too, and the carrier a documentation address.
    trunk_auth = pjsip_objects("auth")["trunk-provider-auth"]
    assert trunk_auth["username"] == PLACEHOLDER
    registration = pjsip_objects("registration")["trunk-provider-reg"]
    assert registration["client_uri"] == f"sip:{PLACEHOLDER}@192.0.2.10:5060"
    text = "\n".join(p.read_text(encoding="utf-8") for p in CONF_DIR.glob("*"))
    assert not re.search(r"BEGIN [A-Z ]*PRIVATE KEY", text)


def test_agents_authenticate_as_themselves():
    auths = pjsip_objects("auth")
    for name, endpoint in pjsip_objects("endpoint").items():
        if endpoint["context"] != "agents":
            continue
        assert auths[endpoint["auth"]]["username"] == name
        assert endpoint["direct_media"] == "no"
        assert endpoint["aors"] == name


def test_every_hotline_agi_is_bounded_and_a_t_extension_carries_on(plan):
    """Asterisk has no read timeout on AGI: each one runs under TIMEOUT(absolute) with
    AGIEXITONHANGUP, the limit is the callcenter's agi_guard_s, and T goes on without it."""
    globals_, priorities = plan
    assert float(globals_["AGI_GUARD_S"]) == default("agi_guard_s")
    inbound_ = [p for p in priorities if p.context == "cc-inbound"]
    agis = [i for i, p in enumerate(inbound_) if p.app == "AGI"]
    assert len(agis) == 2
    for i in agis:
        before = [p.data for p in inbound_[:i] if p.app == "Set"]
        assert "AGIEXITONHANGUP=yes" in before
        assert before[-2:-1] == ["TIMEOUT(absolute)=${AGI_GUARD_S}"] or before[-1] == "TIMEOUT(absolute)=${AGI_GUARD_S}"
    t_ext = [p for p in inbound_ if p.exten == "T"]
    assert t_ext and any(p.app == "Goto" and "defaults" in p.data for p in t_ext)
    assert any("mailbox" in p.data for p in t_ext)
