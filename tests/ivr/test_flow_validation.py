"""Loading and validating flow files: every problem names the file, the node and the line."""

from __future__ import annotations

import pytest

from callcenter.ivr.flow import FlowError
from callcenter.ivr.loader import all_prompts, load_flows

from .conftest import SHIPPED_FLOWS, write_flow

GOOD = """
root: main
defaults:
  invalid_prompt: invalid
  default: {queue: human}
prompts:
  menu: 请选择
  sub_menu: 请选择子菜单
  invalid: 输入有误
nodes:
  main:
    prompt: menu
    keys:
      "1": {goto: complaint}
      "2": {queue: 报修}
  complaint:
    prompt: sub_menu
    keys:
      "1": {queue: complaint}
      "*": back
"""


def problems_of(tmp_path, text: str, name: str = "main") -> list[str]:
    write_flow(tmp_path, name, text)
    with pytest.raises(FlowError) as info:
        load_flows(tmp_path)
    return info.value.problems


def test_shipped_flows_validate():
    flows = load_flows(SHIPPED_FLOWS)
    assert set(flows) == {"main", "vip", "after_hours", "no_answer", "survey", "survey_construction"}
    main = flows["main"]
    assert main.root == "main"
    menu = main.node("main")
    # The menu of the issue: 1 咨询, 2 报修, 3 投诉, 4 建议, 5 订单/退换货, 0 人工, 9 repeat.
    assert {k: a.describe() for k, a in menu.keys.items()} == {
        "1": "queue consultation", "2": "goto repair", "3": "goto complaint",
        "4": "queue suggestion", "5": "goto order", "8": "voicemail",
        "0": "queue human", "9": "repeat",
    }
    # Submenus inherit 0/9/* from common_keys; the root does not get '*'.
    assert main.node("complaint").keys["*"].kind == "back"
    assert "*" not in menu.keys
    assert menu.timeout_ms == 5000 and menu.retries == 2
    assert main.prompts["main_greeting"].startswith("您好，欢迎来电")
    for flow in flows.values():
        for node in flow.nodes.values():
            assert node.default.kind != "repeat"
    assert flows["after_hours"].node("closed").default.kind == "callback"
    assert flows["no_answer"].node("busy").default.kind == "callback"


def test_valid_flow_resolves_inherited_settings(tmp_path):
    write_flow(tmp_path, "main", GOOD)
    flow = load_flows(tmp_path)["main"]
    assert flow.node("main").keys["2"].category == "repair"       # 报修 → repair
    assert flow.node("complaint").invalid_prompt == "invalid"
    assert flow.node("complaint").default.category == "human"
    assert flow.node("main").escape_digits == "12"


def test_unknown_target_names_file_node_and_line(tmp_path):
    text = GOOD.replace('"1": {queue: complaint}', '"3": {goto: repairz}')
    path = tmp_path / "main.yaml"
    assert problems_of(tmp_path, text) == [
        f"{path}: node 'complaint': key '3' goes to unknown node 'repairz' (line 18)"]


def test_missing_root_and_unknown_root(tmp_path):
    path = tmp_path / "main.yaml"
    assert problems_of(tmp_path, GOOD.replace("root: main\n", "")) == [
        f"{path}: missing 'root' (the id of the node every call starts in) (line 1)"]
    assert problems_of(tmp_path, GOOD.replace("root: main", "root: start")) == [
        f"{path}: root 'start' is not a node (nodes: complaint, main) (line 1)"]


def test_unreachable_node(tmp_path):
    text = GOOD + """
  orphan:
    prompt: menu
    keys: {"1": {queue: human}}
"""
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / 'main.yaml'}: node 'orphan': unreachable: no key or default leads here "
        "from the root 'main' (line 21)"]


def test_duplicate_yaml_keys_are_rejected_even_when_quoted_differently(tmp_path):
    text = GOOD.replace('      "2": {queue: 报修}', '      "2": {queue: 报修}\n      2: {queue: human}')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / 'main.yaml'}: node 'main': duplicate key '2' (lines 14 and 15)"]


def test_duplicate_node_ids_are_rejected(tmp_path):
    text = GOOD + """
  main:
    prompt: menu
    keys: {"1": {queue: human}}
"""
    [problem] = problems_of(tmp_path, text)
    assert "duplicate key 'main' (lines 10 and 21)" in problem


def test_back_at_root(tmp_path):
    text = GOOD.replace('"2": {queue: 报修}', '"*": back')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / 'main.yaml'}: node 'main': key '*' goes back, but 'main' is the root "
        "(there is nothing to go back to) (line 14)"]


def test_hash_and_multi_digit_keys(tmp_path):
    text = GOOD.replace('"2": {queue: 报修}', '"#": {queue: human}\n      "12": repeat')
    problems = problems_of(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'main.yaml'}: node 'main': key '#' cannot be used: GET DATA takes # as the "
        "end of input, so the flow never sees it (line 14)",
        f"{tmp_path / 'main.yaml'}: node 'main': key '12' is not a single phone key (0-9 or *) (line 15)",
    ]


def test_key_colliding_with_a_common_key(tmp_path):
    text = GOOD.replace("prompts:", 'common_keys:\n  "1": {queue: human}\nprompts:')
    problems = problems_of(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'main.yaml'}: node 'main': key '1' collides with common key '1' (queue human); "
        "remove one of them (line 15)",
        f"{tmp_path / 'main.yaml'}: node 'complaint': key '1' collides with common key '1' "
        "(queue human); remove one of them (line 20)",
    ]


def test_category_not_in_the_list(tmp_path):
    text = GOOD.replace("{queue: 报修}", "{queue: refund}")
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'main.yaml'}: node 'main': key '2': category 'refund' "
                              "is not one of: consultation (咨询), complaint (投诉)")
    assert problem.endswith("(line 14)")


def test_prompt_without_text_and_unknown_prompt(tmp_path):
    text = GOOD.replace("invalid: 输入有误", 'invalid: ""').replace("prompt: sub_menu", "prompt: sub_menuz")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / 'main.yaml'}: prompt 'invalid' has no text (line 8)",
        f"{tmp_path / 'main.yaml'}: node 'complaint': 'prompt' names prompt 'sub_menuz', "
        "which is not defined under 'prompts' (line 16)",
    ]


def test_loop_without_exit_for_a_silent_caller(tmp_path):
    text = """
    root: a
    prompts: {menu: 请选择}
    nodes:
      a:
        prompt: menu
        keys: {"1": {goto: b}, "2": {queue: human}}
        default: {goto: b}
      b:
        prompt: menu
        keys: {"1": {goto: a}}
        default: {goto: a}
    """
    assert problems_of(tmp_path, text) == [
        f"{tmp_path / 'main.yaml'}: node 'a': loop without exit: a caller who presses nothing goes "
        "round 'a' → 'b' → 'a' forever; one of these defaults must lead to a queue, voicemail, "
        "callback or hangup (line 7)"]


def test_loop_without_exit_for_any_choice(tmp_path):
    text = """
    root: a
    prompts: {menu: 请选择}
    defaults: {default: {queue: human}}
    nodes:
      a:
        prompt: menu
        keys: {"1": {goto: b}, "2": {queue: human}}
      b:
        prompt: menu
        keys: {"1": {goto: c}}
        default: {goto: c}
      c:
        prompt: menu
        keys: {"1": {goto: b}, "*": back}
        default: back
    """
    problems = problems_of(tmp_path, text)
    assert f"{tmp_path / 'main.yaml'}: node 'b': loop without exit: no choice from here ever " \
           "reaches a queue, voicemail, callback or hangup (line 8)" in problems
    assert any("node 'c': loop without exit: no choice" in p for p in problems)
    assert any("goes round 'b' → 'c' → 'b' forever" in p for p in problems)


def test_repeat_as_default_and_no_default(tmp_path):
    text = GOOD.replace("  default: {queue: human}\n", "").replace(
        "      \"*\": back\n", "      \"*\": back\n    default: repeat\n")
    problems = problems_of(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'main.yaml'}: node 'main': no default action for a caller who does nothing "
        "(set 'default' on the node or under 'defaults') (line 9)",
        f"{tmp_path / 'main.yaml'}: node 'complaint': default cannot be 'repeat': the retries "
        "already repeat the menu; give the caller a way out (e.g. {queue: human}) (line 19)",
    ]


@pytest.mark.parametrize("fragment, expected", [
    ("    timeout: 3\n", "node 'main': unknown field 'timeout' (line 11)"),
    ("    retries: 9\n", "node 'main': retries: Input should be less than or equal to 5 (line 11)"),
    ("    timeout_s: 0.1\n", "node 'main': timeout_s: Input should be greater than or equal to 1 (line 11)"),
])
def test_schema_errors_are_reported_per_node(tmp_path, fragment, expected):
    text = GOOD.replace("  main:\n", "  main:\n" + fragment, 1)
    assert problems_of(tmp_path, text) == [f"{tmp_path / 'main.yaml'}: {expected}"]


def test_bad_actions(tmp_path):
    text = GOOD.replace('"2": {queue: 报修}',
                        '"2": hold\n      "3": {goto: complaint, queue: human}\n      "4": goto')
    path = tmp_path / "main.yaml"
    assert problems_of(tmp_path, text) == [
        f"{path}: node 'main': key '2': unknown action 'hold' (expected one of: goto, queue, "
        "repeat, back, voicemail, callback, hangup) (line 14)",
        f"{path}: node 'main': key '3': an action mapping needs exactly one of goto, queue, repeat, "
        "back, voicemail, callback, hangup (found goto, queue) (line 15)",
        f"{path}: node 'main': key '4': 'goto' needs a value, e.g. {{goto: ...}} (line 16)",
    ]


def test_unquoted_star_gets_a_hint(tmp_path):
    text = GOOD.replace('"*": back', "*: back")
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'main.yaml'}: not valid YAML:")
    assert "write the key '*' in quotes" in problem and problem.endswith("(line 19)")


def test_not_a_mapping_and_not_utf8(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (tmp_path / "gbk.yaml").write_bytes("prompts: {a: 您好}\n".encode("gbk"))
    with pytest.raises(FlowError) as info:
        load_flows(tmp_path)
    assert info.value.problems[0].startswith(f"{tmp_path / 'gbk.yaml'}: not UTF-8 text")
    assert info.value.problems[1] == (f"{tmp_path / 'list.yaml'}: a flow file is a mapping with "
                                      "'root', 'prompts' and 'nodes' (line 1)")


def test_every_file_is_checked_and_prompt_ids_are_shared(tmp_path):
    write_flow(tmp_path, "main", GOOD)
    write_flow(tmp_path, "vip", GOOD.replace("invalid: 输入有误", "invalid: 另一段文字"))
    write_flow(tmp_path, "broken", GOOD.replace("root: main", "root: nowhere"))
    with pytest.raises(FlowError) as info:
        load_flows(tmp_path)
    assert info.value.problems == [
        f"{tmp_path / 'broken.yaml'}: root 'nowhere' is not a node (nodes: complaint, main) (line 1)",
        f"{tmp_path / 'vip.yaml'}: prompt 'invalid' has a different text in {tmp_path / 'main.yaml'} "
        "(prompt ids name shared sound files: use another id or the same text)",
    ]


def test_same_prompt_with_same_text_in_two_flows_is_fine(tmp_path):
    write_flow(tmp_path, "main", GOOD)
    write_flow(tmp_path, "copy", GOOD)
    flows = load_flows(tmp_path)
    assert set(flows) == {"main", "copy"}
    assert all_prompts(flows) == {"menu": "请选择", "sub_menu": "请选择子菜单", "invalid": "输入有误"}


def test_missing_or_empty_directory(tmp_path):
    with pytest.raises(FlowError, match="flow directory does not exist"):
        load_flows(tmp_path / "nope")
    with pytest.raises(FlowError, match="no flow files"):
        load_flows(tmp_path)


def test_announcement_nodes(tmp_path):
    text = GOOD.replace('"2": {queue: 报修}', '"2": {goto: info}') + """
  info:
    say: [sub_menu, menu]
    default: {goto: main}
"""
    flow = (write_flow(tmp_path, "main", text), load_flows(tmp_path)["main"])[1]
    info = flow.node("info")
    assert not info.is_menu and info.say == ("sub_menu", "menu") and info.keys == {}
    bad = text.replace("    say: [sub_menu, menu]\n", "")
    assert problems_of(tmp_path, bad) == [
        f"{tmp_path / 'main.yaml'}: node 'info': has neither a menu 'prompt' nor anything to "
        "'say' (line 21)"]
