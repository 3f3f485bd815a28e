"""IVR engine overhead: what the flows cost besides Asterisk's own time.

    python bench/ivr_engine.py [--calls N]

Phases (all in this process, no network; the channel is an in-memory AGIChannel whose
``_exchange`` answers like Asterisk — ``200 result=0 endpos=11234`` for STREAM FILE,
the scripted digit for GET DATA — so quoting, reply parsing and the helpers are real):
  load      load_flows() of the shipped ivr_flows/ (YAML, schema, graph checks), cold
  cached    cached_flows() per call (one stat per flow file) vs bare os.stat() of the files
  engine    run_flow() along main → 3 → complaint → 1 (ANSWER + 4 prompts) per call, vs
            the same 5 commands sent through channel.command() without the engine
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from callcenter.agi.channel import AGIChannel
from callcenter.agi.flow_runner import run_flow
from callcenter.agi.protocol import AGIReply, AGIRequest, parse_reply
from callcenter.config import Settings
from callcenter.ivr.loader import cached_flows, clear_cache, flow_files, load_flows

FLOWS = Path(__file__).resolve().parents[1] / "ivr_flows"
MENU_DIGITS = {"main_menu": "3", "complaint_menu": "1"}


class MemoryChannel(AGIChannel):
    def __init__(self) -> None:
        self.request = AGIRequest(env={"uniqueid": "1.1", "callerid": "13800138000"})
        self.hung_up = False

    async def _exchange(self, command_line: str) -> AGIReply:
        if command_line.startswith("GET DATA"):
            prompt = command_line.split()[2].rsplit("/", 1)[-1]
            return parse_reply(f"200 result={MENU_DIGITS[prompt]}")
        if command_line.startswith("STREAM FILE"):
            return parse_reply("200 result=0 endpos=11234")
        return parse_reply("200 result=0")


def bench_load(repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        load_flows(FLOWS)
        best = min(best, time.perf_counter() - start)
    return best


def bench_cached(n: int) -> tuple[float, float]:
    clear_cache()
    cached_flows(FLOWS)
    files = flow_files(FLOWS)
    start = time.perf_counter()
    for _ in range(n):
        for path in os.listdir(FLOWS):
            os.stat(FLOWS / path)
    baseline = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        cached_flows(FLOWS)
    cached = (time.perf_counter() - start) / n
    assert files
    return cached, baseline


async def bench_engine(settings: Settings, n: int) -> tuple[float, float]:
    channel = MemoryChannel()
    start = time.process_time()
    for _ in range(n):
        outcome = await run_flow(channel, settings, "main")
    engine = (time.process_time() - start) / n
    assert outcome.path == ["main", "key:3", "complaint", "key:1"], outcome.path
    prompts = str(Path(settings.prompts_dir).absolute())
    start = time.process_time()
    for _ in range(n):
        await channel.command("ANSWER")
        await channel.command("STREAM FILE", f"{prompts}/main_greeting", "01234589")
        await channel.command("GET DATA", f"{prompts}/main_menu", 5000, 1)
        await channel.command("GET DATA", f"{prompts}/complaint_menu", 5000, 1)
        await channel.command("STREAM FILE", f"{prompts}/to_complaint", "")
    baseline = (time.process_time() - start) / n
    return engine, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/unused.db", ivr_flows_dir=FLOWS,
                            prompts_dir=Path(tmp) / "prompts")
        load_s = bench_load()
        print(f"load      {len(flow_files(FLOWS))} flow files validated in {load_s * 1000:.1f} ms "
              "(best of 20)")
        cached, stat_only = bench_cached(args.calls)
        print(f"cached    {cached * 1e6:.1f} µs per call; bare stat of the files {stat_only * 1e6:.1f} µs "
              f"(ratio {cached / stat_only:.2f})")
        engine, baseline = asyncio.run(bench_engine(settings, args.calls))
        print(f"engine    {engine * 1e6:.1f} µs CPU per call (5 commands); the same commands without "
              f"the engine {baseline * 1e6:.1f} µs (ratio {engine / baseline:.2f})")


if __name__ == "__main__":
    main()
