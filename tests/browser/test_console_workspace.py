"""The agent's workspace in the browser against the AMI emulator: the status line tells
the truth about ready/pause, tickets open beside the calls, and the pops stay."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from callcenter.db import session_scope
from callcenter.models import Ticket

from .test_screenpop_browser import INTERFACE, page, sign_in_and_sit, site  # noqa: F401 - fixtures

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
