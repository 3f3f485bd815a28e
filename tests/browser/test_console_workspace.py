"""The agent's workspace in the browser against the AMI emulator: the status line tells
the truth about ready/pause, tickets open beside the calls, and the pops stay."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.db import session_scope
from callcenter.models import Call, CallAgentLeg, CallTransfer, CallWrapUp, Role, Ticket, User

from .test_screenpop_browser import (  # noqa: F401 - fixtures
    INTERFACE,
    PASSWORD,
    VIP_LINKEDID,
    page,
    sign_in_and_sit,
    sit_at_phone,
    site,
)

SECOND = "PJSIP/agent1002"

pytestmark = pytest.mark.browser


def hold_action_answers(browser_page, delay_s: float = 1.0) -> None:
    """The answer on the event stream arrives before the button's own request returns
    (as seen in the demo: the listener answered 36 ms after the click): the POST's
    response is held back after the server has handled it."""
    def late(route):
        response = route.fetch()
        time.sleep(delay_s)      # not an assertion: it only puts the stream's answer first
        route.fulfill(response=response)
    browser_page.route("**/api/agent/action", late)


def test_ready_and_pause_show_no_false_error_when_the_answer_comes_first(page, site):  # noqa: F811
    page.clock.install()
    sign_in_and_sit(page, site)
    hold_action_answers(page)
    page.click("#btn-ready")
    page.wait_for_selector("#agent-status[data-status='ready']")
    page.select_option("#pause-reason-select", "用餐")
    page.click("#btn-pause")
    page.wait_for_selector("#agent-status[data-status='paused']")
    page.wait_for_selector("#console[data-last-answer]")
    # Well past the console's 8 s wait for an answer.
    page.clock.run_for(20_000)
    message = page.locator("#console-message")
    assert "error" not in (message.get_attribute("class") or "").split(), message.text_content()
    assert "未响应" not in message.text_content()
    assert page.get_attribute("#agent-status", "data-status") == "paused"
    assert site["emulator"].call(lambda: [a.message.get("Action") for a in site["emulator"].emulator.actions
                                          if a.message.get("Action") in ("QueuePause", "QueueAdd")])


def test_ticket_opens_beside_the_calls_and_every_pop_stays(page, site, tmp_path):  # noqa: F811
    if "tickets.new" not in site["app"].view_functions:
        pytest.skip("the ticket views (callcenter.web.tickets) are not installed")
    sign_in_and_sit(page, site)
    emulator = site["emulator"]
    first, _ = emulator.agent_called(interface=INTERFACE, caller="13911110001", caller_name="FIRST")
    second, _ = emulator.agent_called(interface=INTERFACE, caller="13911110002", caller_name="SECOND")
    page.wait_for_selector(f".pop[data-linkedid='{second.linkedid}']")
    pop = page.wait_for_selector(f".pop[data-linkedid='{first.linkedid}']")
    pop.query_selector("a.new-ticket").click()
    page.wait_for_selector("#side-panel:not([hidden])")
    frame = page.frame_locator("#side-frame")
    frame.locator("input[name=subject], #types a").first.wait_for()
    assert page.url.endswith("/agent/"), "the console stays where it is"

    # A third call rings while the agent writes the ticket.
    third, _ = emulator.agent_called(interface=INTERFACE, caller="13911110003", caller_name="THIRD")
    page.wait_for_selector(f".pop[data-linkedid='{third.linkedid}']")
    assert len(page.query_selector_all("#pops .pop")) == 3
    assert page.get_attribute("#console", "data-connected") == "1"
    page.screenshot(path=str(tmp_path / "side-panel.png"))

    inner = page.frame(name="side-frame")
    if inner.query_selector("input[name=subject]") is None:
        inner.click("#types a >> nth=0")     # an unknown caller: choose the ticket type first
        inner.wait_for_selector("input[name=subject]")
    inner.fill("input[name=subject]", "旁边写的工单")
    for field in inner.query_selector_all("form input[name^='f_']:not([type]), form input[name^='f_'][type=text], "
                                          "form textarea[name^='f_']"):
        if not field.input_value():
            field.fill("来电登记")
    inner.click("main form button[type=submit]")
    page.wait_for_selector(f".pop[data-linkedid='{first.linkedid}'] .ticket-saved:has-text('工单')")
    assert len(page.query_selector_all("#pops .pop")) == 3, "no pop was lost"
    assert page.get_attribute("#console", "data-connected") == "1", "the event stream never closed"
    with session_scope(site["db"]) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.subject == "旁边写的工单"))
        assert ticket is not None and ticket.call_linkedid == first.linkedid
    page.click("#side-close")
    assert page.is_hidden("#side-panel")


def received(site, name: str) -> list[dict[str, str]]:  # noqa: F811 - the fixture's value
    """The AMI actions of that name the emulated Asterisk got, as field dicts."""
    emulator = site["emulator"]
    return emulator.call(lambda: [dict(a.message.fields) for a in emulator.emulator.actions
                                  if a.message.get("Action") == name])


def second_agent(site, chromium):  # noqa: F811 - the fixture's value
    """李坐席 signed in at agent1002, on a console of their own."""
    with session_scope(site["db"]) as s:
        s.add(User(username="li", display_name="李坐席", role=Role.AGENT, default_interface=SECOND,
                   password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    other = context.new_page()
    other.set_default_timeout(15_000)
    other.goto(site["url"] + "/auth/login")
    other.fill("#username", "li")
    other.fill("#password", PASSWORD)
    other.click("#login-submit")
    other.wait_for_url(site["url"] + "/agent/")
    sit_at_phone(other)
    return context, other


def test_hold_transfer_and_wrap_up_through_the_ami_owner(page, site, chromium, tmp_path):  # noqa: F811
    sign_in_and_sit(page, site)
    context, other = second_agent(site, chromium)
    emulator = site["emulator"]
    caller, agent = emulator.agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
    pop = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    emulator.agent_connect(caller, agent, queue="vip", interface=INTERFACE)
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-live='1'] .call-bar:not([hidden])")
    page.screenshot(path=str(tmp_path / "live-call.png"), full_page=True)

    # Hold: both channels leave the bridge (caller to music on hold); unhold bridges them again.
    pop.query_selector("button.hold").click()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-held='1']")
    [hold] = received(site, "Redirect")
    assert (hold["Channel"], hold["Context"], hold["Exten"]) == (caller.channel, "cc-hold", "caller")
    assert (hold["ExtraChannel"], hold["ExtraContext"], hold["ExtraExten"]) == (agent.channel, "cc-hold", "agent")
    pop.query_selector("button.hold").click()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']:not([data-held])")
    [bridge] = received(site, "Bridge")
    assert (bridge["Channel1"], bridge["Channel2"]) == (caller.channel, agent.channel)

    # Blind transfer to 李坐席: the caller goes to [cc-transfer] agent1002 ...
    with session_scope(site["db"]) as s:
        owner_before = s.scalar(select(Ticket.owner_id).where(Ticket.subject == "厨房漏水"))
    pop.query_selector(".transfer-target").focus()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'] .transfer-target option[value='agent|{SECOND}']",
                           state="attached")
    pop.query_selector(".transfer-target").select_option(f"agent|{SECOND}")
    pop.query_selector("button.transfer").click()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-transferred='{SECOND}']")
    transfer = received(site, "Redirect")[-1]
    assert (transfer["Channel"], transfer["Context"], transfer["Exten"]) == (caller.channel, "cc-transfer", "agent1002")
    # ... the call pops on the receiving console, saying who transferred it ...
    moved = other.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    assert INTERFACE in moved.query_selector(".transfer-from").text_content()
    assert "厨房漏水" in moved.query_selector(".open-tickets").text_content()
    other.screenshot(path=str(tmp_path / "transferred.png"), full_page=True)
    # ... and the call record keeps both legs; the ticket keeps its first owner (首问负责制).
    with session_scope(site["db"]) as s:
        call = s.scalar(select(Call).where(Call.linkedid == VIP_LINKEDID))
        legs = {(leg.interface, leg.outcome) for leg in s.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id))}
        assert {(INTERFACE, "connected"), (SECOND, "transfer")} <= legs
        [row] = s.scalars(select(CallTransfer).where(CallTransfer.call_id == call.id))
        assert (row.ok, row.target_kind, row.target, row.from_interface) == (True, "agent", SECOND, INTERFACE)
        assert s.scalar(select(Ticket.owner_id).where(Ticket.subject == "厨房漏水")) == owner_before

    # The first agent's leg ends: wrap-up with a code from the admins' list.
    emulator.agent_complete(caller, agent, queue="vip", interface=INTERFACE, reason="transfer")
    page.wait_for_selector("#agent-status[data-status='wrap_up']")
    page.wait_for_selector("#wrapup-countdown:not([hidden])")
    wrap = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'] .wrapup:not([hidden])")
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'] .wrapup-code option:has-text('已转接')", state="attached")
    wrap.query_selector(".wrapup-code").select_option(label="已转接")
    wrap.query_selector(".wrapup-save").click()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-wrapup='已转接']")
    with session_scope(site["db"]) as s:
        chosen = s.scalar(select(CallWrapUp).where(CallWrapUp.call_id == call.id))
        assert chosen.code.code == "transfer"
    page.click("#btn-wrapup")
    page.wait_for_selector("#agent-status[data-status='ready']")
    context.close()


def test_hang_up_from_the_console(page, site):  # noqa: F811
    sign_in_and_sit(page, site)
    emulator = site["emulator"]
    caller, agent = emulator.agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
    emulator.agent_connect(caller, agent, queue="vip", interface=INTERFACE)
    pop = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'][data-live='1']")
    pop.query_selector("button.hangup").click()
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}'] .call-note:has-text('已挂断')")
    [hangup] = received(site, "Hangup")
    assert hangup["Channel"] == caller.channel


def test_a_new_pop_rings_notifies_and_flashes_the_title_each_can_be_turned_off(chromium, site):  # noqa: F811
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000},
                                   permissions=["notifications"])
    page = context.new_page()  # noqa: F811 - its own context: notifications allowed
    page.set_default_timeout(15_000)
    try:
        sign_in_and_sit(page, site)
        page.check("#alert-desktop")
        site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
        page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
        page.wait_for_selector("#console[data-rang='1'][data-notified='1']")
        assert page.title().startswith("📞 来电 王秀英")

        # Sound and desktop notification off: the next pop is silent (and the choice is kept).
        page.uncheck("#alert-sound")
        page.uncheck("#alert-desktop")
        second, _ = site["emulator"].agent_called(interface=INTERFACE, caller="13911110009")
        page.wait_for_selector(f".pop[data-linkedid='{second.linkedid}']")
        assert page.get_attribute("#console", "data-rang") == "1"
        assert page.get_attribute("#console", "data-notified") == "1"
        page.reload()
        page.wait_for_selector("#console[data-connected='1']")
        assert not page.is_checked("#alert-sound") and not page.is_checked("#alert-desktop")
    finally:
        context.close()


def test_keyboard_shortcuts_and_the_first_tab_skips_the_menu(page, site):  # noqa: F811
    sign_in_and_sit(page, site)
    page.goto(site["url"] + "/agent/")
    page.wait_for_selector("#console[data-connected='1']")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "interface", "the console's own controls come next"

    pauses = len(received(site, "QueuePause"))
    page.keyboard.press("Alt+r")
    page.wait_for_selector("#console[data-last-answer^='u']")     # the answer to the ready request
    page.wait_for_selector("#agent-status[data-status='ready']")
    assert len(received(site, "QueuePause")) == pauses + 1
    site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
    page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    page.keyboard.press("Alt+n")
    page.wait_for_selector("#side-panel:not([hidden])")
    page.keyboard.press("Escape")
    page.wait_for_selector("#side-panel", state="hidden")
