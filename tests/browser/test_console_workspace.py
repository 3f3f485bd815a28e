"""The agent's workspace in the browser against the AMI emulator: the status line tells
the truth about ready/pause, tickets open beside the calls, and the pops stay."""

from __future__ import annotations

import time

import pytest

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
