"""A per-call AGI script for the tests: test-only routes run through the real
``callcenter.agi.pyst.main`` (stdin/stdout, pyst2, SIGHUP). Each route appends what
the channel helpers returned to the JSON file named by $AGI_TEST_RESULT."""

from __future__ import annotations

import json
import os
import sys

from callcenter.agi.channel import AGIError, AGIHangup
from callcenter.agi.pyst import main
from callcenter.agi.registry import Registry
from callcenter.config import Settings

registry = Registry()
seen: dict = {}


def record(**values) -> None:
    seen.update(values)
    with open(os.environ["AGI_TEST_RESULT"], "w", encoding="utf-8") as fh:
        json.dump(seen, fh, ensure_ascii=False)


@registry.route("tour")
async def tour(channel, ctx):
    record(args=channel.request.args, route=channel.request.route)
    record(num=await channel.get_variable("CALLERID(num)"))
    record(name=(await channel.command("GET FULL VARIABLE", "${CALLERID(name)}")).data)
    await channel.set_variable("CC_ROUTE", "vip")
    await channel.verbose("x", 1)
    await channel.answer()
    stream = await channel.stream_file("hello-world", "12")
    data = await channel.get_data("beep", 3000, 1)
    record(stream=[stream.digit, stream.endpos], digits=[data.digits, data.timed_out])
    record(status=(await channel.command("CHANNEL STATUS")).result)
    record(unset=await channel.get_variable("NONEXISTENT"))
    try:
        await channel.command("FOO BAR")
    except AGIError as exc:
        record(unknown=exc.reply.code)
    try:
        await channel.command("SET VARIABLE", "ONLYONEARG")
    except AGIError as exc:
        record(usage=exc.reply.raw.split("\n"))


@registry.route("hangup_test")
async def hangup_test(channel, ctx):
    record(args=channel.request.args, route=channel.request.route, pid=os.getpid())
    await channel.answer()
    try:
        await channel.stream_file("demo-congrats", "")
    except AGIHangup:
        record(hangup=channel.hung_up)
        record(num=(await channel.command("GET VARIABLE", "CALLERID(num)", dead_ok=True)).data)
        refused = 0
        for words in (("STREAM FILE", "beep", ""), ("CHANNEL STATUS",)):
            try:
                await channel.command(*words, dead_ok=True)
            except AGIHangup:
                refused += 1
        record(refused=refused)
        await channel.command("VERBOSE", "classic agi still running after hangup", 1, dead_ok=True)
        await channel.command("NOOP", dead_ok=True)
        record(done=True)
        raise


@registry.route("fails", fallback={"CC_ROUTE": "queue", "CC_QUEUE": "general_q"})
async def fails(channel, ctx):
    await ctx.run_db(lambda: 1 / 0)


if __name__ == "__main__":
    fixed = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] == "tour" else None
    sys.exit(main(fixed, registry=registry, settings=Settings(agi_route_budget_s=1.0)))
