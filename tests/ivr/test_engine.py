"""The engine against a scripted caller on a spec'd AGIChannel: every prompt, in order."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.agi.channel import AGIHangup
from callcenter.agi.flow_runner import run_flow
from callcenter.ivr.flow import FlowError

from .conftest import HANGUP, HASH, MISSING, TIMEOUT, ScriptedCaller, Step, write_flow


def run(caller: ScriptedCaller, settings, flow: str = "main"):
    outcome = asyncio.run(run_flow(caller.channel, settings, flow))
    caller.assert_finished()
    return outcome


def caller_for(settings, *steps: Step) -> ScriptedCaller:
    return ScriptedCaller(prompts_dir=settings.prompts_dir.absolute(), steps=list(steps))


def test_complaint_path(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "3"),
        Step("get_data", "complaint_menu", "1"),
        Step("stream", "to_complaint"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "key:3", "complaint", "key:1"]
    assert (outcome.action, outcome.category, outcome.queue) == ("queue", "complaint", None)
    caller.channel.answer.assert_awaited_once()
    # Greeting interruptible by the menu's keys; menus wait 5 s for one digit.
    assert caller.played[0] == ("stream", "main_greeting", ("01234589",))
    assert caller.played[1] == ("get_data", "main_menu", (5000, 1))
    # The closing announcement cannot be cut short by a stray key.
    assert caller.played[3] == ("stream", "to_complaint", ("",))


def test_caller_who_knows_the_menu_presses_during_the_greeting(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting", "2"),
        Step("get_data", "repair_menu", "3"),
        Step("stream", "to_repair_urgent"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "key:2", "repair", "key:3"]
    assert outcome.category == "repair"


def test_silent_caller_gets_the_retries_then_the_default(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", TIMEOUT),
        Step("stream", "no_input"),
        Step("get_data", "main_menu", TIMEOUT),
        Step("stream", "no_input"),
        Step("get_data", "main_menu", TIMEOUT),
        Step("stream", "to_agent"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "timeout", "timeout", "timeout", "default"]
    assert (outcome.action, outcome.category) == ("queue", "human")


def test_invalid_key_plays_invalid_choice_and_asks_again(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "7"),
        Step("stream", "invalid"),
        Step("get_data", "main_menu", HASH),     # '#' alone: a key, not a choice
        Step("stream", "invalid", "4"),          # presses during the "invalid" prompt
        Step("stream", "to_suggestion"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "invalid:7", "invalid:#", "key:4"]
    assert outcome.category == "suggestion"


def test_repeat_is_not_a_failed_attempt_and_skips_the_greeting(ivr_settings):
    steps = [Step("stream", "main_greeting")]
    steps += [Step("get_data", "main_menu", "9")] * 3
    steps += [Step("get_data", "main_menu", "7"), Step("stream", "invalid"),
              Step("get_data", "main_menu", "7"), Step("stream", "invalid"),
              Step("get_data", "main_menu", "7"), Step("stream", "to_agent")]
    outcome = run(caller_for(ivr_settings, *steps), ivr_settings)
    assert outcome.path == ["main", "key:9", "key:9", "key:9",
                            "invalid:7", "invalid:7", "invalid:7", "default"]


def test_back_returns_to_the_menu_without_the_greeting(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "2"),
        Step("get_data", "repair_menu", "*"),
        Step("get_data", "main_menu", "5"),
        Step("get_data", "order_menu", "0"),     # common key: a person, from any menu
        Step("stream", "to_agent"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "key:2", "repair", "key:*", "main", "key:5", "order", "key:0"]
    assert outcome.category == "human"


def test_submenu_default_keeps_its_category(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "3"),
        Step("get_data", "complaint_menu", "6"),
        Step("stream", "invalid"),
        Step("get_data", "complaint_menu", TIMEOUT),
        Step("stream", "no_input"),
        Step("get_data", "complaint_menu", TIMEOUT),
        Step("stream", "to_complaint"),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "key:3", "complaint", "invalid:6", "timeout", "timeout", "default"]
    assert outcome.category == "complaint"


def test_leave_a_message_key(ivr_settings):
    caller = caller_for(ivr_settings, Step("stream", "main_greeting"), Step("get_data", "main_menu", "8"))
    outcome = run(caller, ivr_settings)
    assert (outcome.action, outcome.category, outcome.path) == ("voicemail", "", ["main", "key:8"])


@pytest.mark.parametrize("steps, partial", [
    ([Step("stream", "main_greeting", HANGUP)], ["main"]),
    ([Step("stream", "main_greeting"), Step("get_data", "main_menu", "3"),
      Step("get_data", "complaint_menu", HANGUP)], ["main", "key:3", "complaint"]),
    ([Step("stream", "main_greeting"), Step("get_data", "main_menu", "7"),
      Step("stream", "invalid", HANGUP)], ["main", "invalid:7"]),
    ([Step("stream", "main_greeting"), Step("get_data", "main_menu", "1"),
      Step("stream", "to_consultation", HANGUP)], ["main", "key:1"]),
])
def test_hangup_anywhere_raises_with_the_partial_path(ivr_settings, steps, partial):
    caller = caller_for(ivr_settings, *steps)
    with pytest.raises(AGIHangup) as info:
        asyncio.run(run_flow(caller.channel, ivr_settings, "main"))
    assert info.value.ivr_path == partial
    caller.assert_finished()


def test_hangup_before_answer_has_an_empty_path(ivr_settings):
    caller = caller_for(ivr_settings)
    caller.channel.answer.side_effect = AGIHangup("ANSWER: 511")
    with pytest.raises(AGIHangup) as info:
        asyncio.run(run_flow(caller.channel, ivr_settings, "main"))
    assert info.value.ivr_path == []


def test_missing_sound_file_is_skipped(ivr_settings, caplog):
    caller = caller_for(
        ivr_settings,
        Step("stream", "main_greeting", MISSING),
        Step("get_data", "main_menu", "1"),
        Step("stream", "to_consultation", MISSING),
    )
    outcome = run(caller, ivr_settings)
    assert outcome.path == ["main", "key:1"] and outcome.category == "consultation"
    assert "prompt 'main_greeting' could not be played" in caplog.text


def test_vip_line_has_no_retries(ivr_settings):
    caller = caller_for(
        ivr_settings,
        Step("stream", "vip_greeting"),
        Step("get_data", "vip_menu", "5"),
        Step("stream", "vip_to_agent"),
    )
    outcome = run(caller, ivr_settings, "vip")
    assert outcome.path == ["vip", "invalid:5", "default"]
    assert outcome.category == "human"
    assert caller.played[1] == ("get_data", "vip_menu", (4000, 1))


def test_after_hours_menu(ivr_settings):
    caller = caller_for(ivr_settings, Step("stream", "ah_greeting"), Step("get_data", "ah_menu", "2"))
    outcome = run(caller, ivr_settings, "after_hours")
    assert (outcome.action, outcome.path) == ("callback", ["closed", "key:2"])


def test_digits_with_timeout_count_as_a_wrong_entry(ivr_settings, tmp_path):
    write_flow(tmp_path / "flows", "main", """
        root: main
        defaults: {invalid_prompt: bad, no_input_prompt: silence, retries: 1, default: hangup}
        prompts: {menu: 请选择, bad: 输入有误, silence: 没有输入}
        nodes:
          main:
            prompt: menu
            keys: {"1": {queue: human, queue_name: vip}}
    """)
    settings = ivr_settings.model_copy(update={"ivr_flows_dir": tmp_path / "flows"})
    caller = caller_for(settings, Step("get_data", "menu", "34 (timeout)"), Step("stream", "bad"),
                        Step("get_data", "menu", "1"))
    outcome = run(caller, settings)
    assert outcome.path == ["main", "invalid:34", "key:1"]
    assert (outcome.category, outcome.queue) == ("human", "vip")


def test_announcement_node_and_step_limit(ivr_settings, tmp_path):
    write_flow(tmp_path / "flows", "loopy", """
        root: main
        max_steps: 5
        defaults: {default: hangup}
        prompts: {menu: 请选择, info: 营业时间是九点到六点}
        nodes:
          main:
            prompt: menu
            keys: {"1": {goto: info}, "9": repeat}
          info:
            say: info
            default: {goto: main}
    """)
    settings = ivr_settings.model_copy(update={"ivr_flows_dir": tmp_path / "flows"})
    caller = caller_for(
        settings,
        Step("get_data", "menu", "1"),
        Step("stream", "info"),
        Step("get_data", "menu", "1"),
        Step("stream", "info"),              # an announcement plays on every visit
        Step("get_data", "menu", "9"),
        Step("get_data", "menu", "9"),
        Step("get_data", "menu", "9"),
    )
    outcome = run(caller, settings, "loopy")
    assert outcome.path == ["main", "key:1", "info", "default", "main", "key:1", "info", "default",
                            "main", "key:9", "key:9", "key:9", "limit"]
    assert (outcome.action, outcome.category) == ("queue", "human")


def test_unknown_flow_is_a_flow_error(ivr_settings):
    caller = caller_for(ivr_settings)
    with pytest.raises(FlowError, match="no flow named 'nope' \\(have: after_hours, main, no_answer, survey, survey_construction, vip\\)"):
        asyncio.run(run_flow(caller.channel, ivr_settings, "nope"))
