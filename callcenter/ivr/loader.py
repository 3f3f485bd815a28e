"""Loading every flow of a directory, and the per-process cache the engine reads.

The cache re-reads the directory when a file's mtime or size changes (or a file comes
or goes), looking at most once every ``RECHECK_S`` seconds so a busy server does not
stat the files on every call.  A broken edit on a live system must not take calls
down: when the new files fail validation, the last good flows keep serving and the
error is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from callcenter.ivr.flow import Flow, FlowError
from callcenter.ivr.validate import compile_flow

log = logging.getLogger(__name__)

FLOW_SUFFIXES = (".yaml", ".yml")
# An edited flow reaches callers within this many seconds.
RECHECK_S = 1.0


def flow_files(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise FlowError(f"{directory}: flow directory does not exist")
    return sorted(p for p in directory.iterdir()
                  if p.suffix in FLOW_SUFFIXES and p.is_file() and not p.name.startswith("."))


def load_flows(directory: Path | str) -> dict[str, Flow]:
    """Read and validate every ``*.yaml`` in ``directory``; name → Flow.

    Raises FlowError listing every problem of every file (so one run of
    ``callcenter ivr check`` shows them all).
    """
    directory = Path(directory)
    flows: dict[str, Flow] = {}
    problems: list[str] = []
    for path in flow_files(directory):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            flow = compile_flow(path, text)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.name in flows:
            problems.append(f"{path}: flow '{flow.name}' is also defined by {flows[flow.name].path}")
            continue
        flows[flow.name] = flow
    problems.extend(_shared_prompt_conflicts(flows))
    if problems:
        raise FlowError(problems)
    if not flows:
        raise FlowError(f"{directory}: no flow files (*.yaml)")
    return flows


def _shared_prompt_conflicts(flows: dict[str, Flow]) -> list[str]:
    """Prompt ids are file names in one directory: one id, one text, across all flows."""
    owner: dict[str, Flow] = {}
    problems = []
    for flow in flows.values():
        for prompt_id, text in flow.prompts.items():
            first = owner.setdefault(prompt_id, flow)
            if first is not flow and first.prompts[prompt_id] != text:
                problems.append(
                    f"{flow.path}: prompt '{prompt_id}' has a different text in {first.path} "
                    "(prompt ids name shared sound files: use another id or the same text)")
    return problems


def all_prompts(flows: dict[str, Flow]) -> dict[str, str]:
    """Every prompt id of every flow → its text (conflicts were rejected at load)."""
    prompts: dict[str, str] = {}
    for flow in flows.values():
        prompts.update(flow.prompts)
    return prompts


# --- the per-process cache ------------------------------------------------------------

Signature = tuple[tuple[str, int, int], ...]


@dataclass
class _Entry:
    signature: Signature
    flows: dict[str, Flow]
    checked_at: float = 0.0


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def _signature(directory: Path) -> Signature:
    entries = []
    for path in flow_files(directory):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue            # removed between listing and stat: the next call sees it gone
        entries.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(entries)


def cached_flows(directory: Path | str) -> dict[str, Flow]:
    """The flows of ``directory``, loaded once and reloaded when the files change."""
    key = str(directory)
    now = time.monotonic()
    entry = _cache.get(key)
    if entry is not None and now - entry.checked_at < RECHECK_S:
        return entry.flows
    directory = Path(directory)
    with _lock:
        entry = _cache.get(key)
        if entry is not None:
            entry.checked_at = now
        try:
            signature = _signature(directory)
        except FlowError:
            if entry is not None:
                log.error("flow directory %s vanished; serving the flows loaded before", directory)
                return entry.flows
            raise
        if entry is not None and entry.signature == signature:
            return entry.flows
        try:
            flows = load_flows(directory)
        except FlowError as exc:
            if entry is None:
                raise
            # Remember the signature so a broken file is reported once, not on every call.
            entry.signature = signature
            log.error("flow files changed but do not validate; still serving the previous "
                      "flows:\n%s", exc)
            return entry.flows
        if entry is not None:
            log.info("reloaded IVR flows from %s: %s", directory, ", ".join(sorted(flows)))
        _cache[key] = _Entry(signature, flows, now)
        return flows


def get_flow(directory: Path | str, name: str) -> Flow:
    flows = cached_flows(directory)
    try:
        return flows[name]
    except KeyError:
        raise FlowError(f"{directory}: no flow named '{name}' "
                        f"(have: {', '.join(sorted(flows)) or 'none'})") from None


def clear_cache() -> None:
    with _lock:
        _cache.clear()
