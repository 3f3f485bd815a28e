"""Flows are loaded once per process and reloaded when their files change."""

from __future__ import annotations

import logging
import shutil

import pytest

from callcenter.ivr import loader
from callcenter.ivr.flow import FlowError
from callcenter.ivr.loader import cached_flows, get_flow

from .conftest import bump_mtime, write_flow


@pytest.fixture(autouse=True)
def _look_every_time(monkeypatch):
    monkeypatch.setattr(loader, "RECHECK_S", 0.0)


FLOW = """
root: main
defaults: {default: {queue: human}}
prompts: {menu: 咨询请按1}
nodes:
  main:
    prompt: menu
    keys: {"1": {queue: consultation}}
"""


def test_loaded_once_then_served_from_the_cache(tmp_path):
    write_flow(tmp_path, "main", FLOW)
    first = cached_flows(tmp_path)
    assert cached_flows(tmp_path) is first
    assert get_flow(tmp_path, "main") is first["main"]


def test_changed_file_is_reloaded(tmp_path):
    path = write_flow(tmp_path, "main", FLOW)
    assert get_flow(tmp_path, "main").prompts["menu"] == "咨询请按1"
    path.write_text(FLOW.replace("咨询请按1", "咨询业务请按1"), encoding="utf-8")
    bump_mtime(path)
    assert get_flow(tmp_path, "main").prompts["menu"] == "咨询业务请按1"


def test_added_and_removed_files_are_seen(tmp_path):
    write_flow(tmp_path, "main", FLOW)
    assert set(cached_flows(tmp_path)) == {"main"}
    write_flow(tmp_path, "vip", FLOW)
    assert set(cached_flows(tmp_path)) == {"main", "vip"}
    (tmp_path / "vip.yaml").unlink()
    assert set(cached_flows(tmp_path)) == {"main"}


def test_a_broken_edit_keeps_the_last_good_flows(tmp_path, caplog):
    path = write_flow(tmp_path, "main", FLOW)
    good = cached_flows(tmp_path)
    path.write_text(FLOW.replace("queue: consultation", "goto: nowhere"), encoding="utf-8")
    bump_mtime(path)
    with caplog.at_level(logging.ERROR, logger="callcenter.ivr.loader"):
        assert cached_flows(tmp_path) is good
        assert cached_flows(tmp_path) is good
    # Reported once, with the problem, not on every call.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "key '1' goes to unknown node 'nowhere'" in errors[0].getMessage()
    # Fixed again: the fix is picked up.
    path.write_text(FLOW.replace("咨询请按1", "修好了"), encoding="utf-8")
    bump_mtime(path, 20)
    assert cached_flows(tmp_path)["main"].prompts["menu"] == "修好了"


def test_broken_files_at_first_load_raise(tmp_path):
    write_flow(tmp_path, "main", FLOW.replace("root: main", "root: start"))
    with pytest.raises(FlowError, match="root 'start' is not a node"):
        cached_flows(tmp_path)


def test_vanished_directory_keeps_serving(tmp_path, caplog):
    flows_dir = tmp_path / "flows"
    write_flow(flows_dir, "main", FLOW)
    good = cached_flows(flows_dir)
    shutil.rmtree(flows_dir)
    assert cached_flows(flows_dir) is good
    assert "vanished" in caplog.text


def test_files_are_looked_at_once_per_recheck_interval(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(loader, "RECHECK_S", 1.0)
    monkeypatch.setattr(loader.time, "monotonic", lambda: clock[0])
    path = write_flow(tmp_path, "main", FLOW)
    first = cached_flows(tmp_path)
    path.write_text(FLOW.replace("咨询请按1", "新的菜单"), encoding="utf-8")
    bump_mtime(path)
    clock[0] += 0.5
    assert cached_flows(tmp_path) is first          # within the interval: no stat at all
    clock[0] += 0.6
    assert cached_flows(tmp_path)["main"].prompts["menu"] == "新的菜单"
