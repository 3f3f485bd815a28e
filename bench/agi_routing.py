"""FastAGI routing benchmark: the real route_call over the real socket.

    python bench/agi_routing.py [--quick] [--profile] [--workers N] [--set KEY=VALUE ...]
                                [--sweep [RATES]] [--generator-loop uvloop|asyncio]
                                [--postgres URL | --no-postgres] [--peer panoramisk|none]

A FastAGI server runs in a child process (settings defaults: database threads per
engine, backlog 1024; ``--workers N`` runs ``callcenter agi --workers N``) against a
SQLite database seeded with 100,000 customers and the example lines (cached under
bench/results/, keyed by a hash of the schema). This process is the synthetic
Asterisk: an asyncio client that sends the header of transcript 1a (VIP line
4008002000, a random customer's number), answers every command (``GET VARIABLE`` with
a value, everything else ``200 result=1``), and sends ``HANGUP`` after the server's
half-close, as Asterisk does. It shares the machine with the server, so it runs as
lean as it can (uvloop, its start-up objects frozen out of the garbage collector; see
``generate``); ``--generator-loop asyncio`` measures with the plain asyncio client.
CPU is read from /proc: the server (all its worker processes), this load generator,
and everything else on the machine.

Phases and targets:
  floor     a route that sets 4 variables without the database (the server's own
            cost): 200 channels, 1,000 calls/s arriving, a 500-connection burst
  transport route_call's transport without its database work: one hop to a database
            thread, then the 10 variables route_call sets
  service   route_call's database work alone (route_and_record), serially in this process
  closed    200 concurrent channels, route_call: calls/s, p50/p99, CPU per call, the
            routing reasons seen (the VIP line is open or closed by the real clock)
  open      1,000 calls/s arriving for 10 s: p50/p99 (target p99 <= 25 ms)
  burst     500 connections at once: max time to first command (target: all < 2 s)
  scans     bare connect/close, RST and half-header storms between calls (8 rounds):
            p99 of the calls after vs before each storm (medians and worst windows),
            and the server's CPU while idle after a storm
  sweep     with --sweep: route_call at 500..1,000 calls/s arriving, and the highest
            rate that keeps p99 <= 25 ms
  peer      the same route_call served by panoramisk 1.4's FastAGI Application in a
            child process of its own (``serve_panoramisk``; ``--peer none`` skips it),
            on the same SQLite file, after the phases above: the same two look-ups
            (routing.plan_route), routing.decide and the same 10 SET VARIABLEs, no
            write. Closed loop at 200 channels against the product and the peer in
            alternating rounds (product, peer, peer, product, ...) with the same load
            generator: calls/s, p50/p99, server CPU per call for each, and the ratio
            product/peer CPU per call (target <= 1.0). A peer that cannot run is
            reported with its reason instead of figures
  script    the same route_call through agi_scripts/route_call.py, one process per
            call, 2 at a time (2 cores): calls/s; ratio FastAGI/script (target >= 50x)
  postgres  closed and open loop again on PostgreSQL (a private database created in
            the ``test`` server, seeded the same way, dropped at the end); skipped
            with a note when no server answers
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CUSTOMERS = 100_000
VIP_LINE = "4008002000"
TICK = os.sysconf("SC_CLK_TCK")

HEADER_TEMPLATE = (
    "agi_network: yes\nagi_network_script: {route}\nagi_request: agi://127.0.0.1:4573/{route}\n"
    "agi_channel: PJSIP/caller-{n:08x}\nagi_language: en\nagi_type: PJSIP\nagi_uniqueid: {uid}\n"
    "agi_version: 22.10.1\nagi_callerid: {caller}\nagi_calleridname: Test Caller\nagi_callingpres: 0\n"
    "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: {line}\nagi_rdnis: unknown\n"
    "agi_context: hotline\nagi_extension: {line}\nagi_priority: 2\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 140460397172416\nagi_arg_1: {uid}\n\n"
)


TRANSPORT_VARIABLES = {"CC_ROUTE": "queue", "CC_QUEUE": "vip", "QUEUE_PRIO": "10", "CC_ROUTE_REASON": "vip_line",
                       "CC_CUSTOMER_ID": "4711", "CC_POP_KEY": "x" * 32, "CC_CATEGORY": "", "CC_CALL_ID": "123456",
                       "CC_TIER": "vip", "CC_LINE_KIND": "vip"}


REASONS: collections.Counter = collections.Counter()      # CC_ROUTE_REASON of every call answered


def caller_number(i: int) -> str:
    return f"139{i:08d}"


# --- the database ------------------------------------------------------------------------

def schema_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "callcenter" / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    digest.update(f"{CUSTOMERS}:v1".encode())
    return digest.hexdigest()[:12]


def seeded_database() -> Path:
    """The cached seeded file (built once per schema): 100k customers, example lines."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"agi_routing_{schema_hash()}.db"
    if path.exists():
        return path
    from callcenter import migrate
    from callcenter.db import engine_for, session_scope
    from callcenter.services.people import phones
    from callcenter.services.setup import defaults

    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    url = f"sqlite:///{building}"
    started = time.perf_counter()
    migrate.upgrade(url)
    with session_scope(url) as session:
        defaults.setup_defaults(session)
    engine_for(url).dispose()           # no pooled connection may keep a WAL open
    assert phones.normalize(caller_number(1), "CN") == "+86" + caller_number(1)
    con = sqlite3.connect(building)
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    tiers = ["vip"] * 5 + ["member"] * 15 + ["ordinary"] * 80
    con.executemany(
        "INSERT INTO customers (id, name, tier, important, area, building, unit, room, address, notes,"
        " created_at, updated_at) VALUES (?, ?, ?, 0, '', '', '', '', '', '', ?, ?)",
        ((i, f"客户{i}", tiers[i % 100], now, now) for i in range(1, CUSTOMERS + 1)))
    con.executemany(
        "INSERT INTO customer_phones (customer_id, e164, raw, label) VALUES (?, ?, ?, '')",
        ((i, "+86" + caller_number(i), caller_number(i)) for i in range(1, CUSTOMERS + 1)))
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA journal_mode=DELETE")   # one self-contained file to copy
    con.close()
    building.rename(path)
    print(f"seeded {CUSTOMERS} customers in {time.perf_counter() - started:.1f} s -> {path}")
    return path


def service_cost(db_url: str, calls: int) -> dict:
    """route_call's database work alone, in this process, one call after another, as
    the handler runs it for a line without IVR (route_and_record, one transaction on
    a Connection): the routing service's own CPU per call, to set against the server's."""
    from callcenter.config import Settings
    from callcenter.db import make_engine, session_scope
    from callcenter.services.calls import routing

    settings = Settings(database_url=db_url)
    engine = make_engine(db_url)
    cost = 0.0
    for i in range(calls + 20):
        request = routing.RouteRequest(uniqueid=f"0.{i}", linkedid=f"0.{i}", channel="PJSIP/bench",
                                       dialled=VIP_LINE, caller_number=caller_number(1 + i * 7919 % CUSTOMERS),
                                       caller_name="Test Caller")
        t0 = time.process_time()
        if hasattr(routing, "route_and_record"):
            with engine.begin() as conn:
                routing.route_and_record(conn, settings, request)
        else:                                         # a release before the one-transaction path
            with session_scope(db_url) as session:
                plan = routing.plan_route(session, settings, request)
            with session_scope(db_url) as session:
                routing.record_route(session, plan, routing.decide(plan, settings, None), None)
        if i >= 20:                                   # after warming caches
            cost += time.process_time() - t0
    engine.dispose()
    return {"route_and_record": cost / calls}


async def drain(pid: int, limit: float = 30.0) -> None:
    """Wait until the server is idle (a phase must not pay for the previous one)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - before < 0.02:
            return


# --- the server, in its own process --------------------------------------------------------

def serve(db_url: str, conn, overrides: dict | None = None, workers: int = 1) -> None:
    import logging

    from callcenter.agi.handlers import ROUTES
    from callcenter.agi.process import freeze_startup_objects, run_loop
    from callcenter.agi.registry import Registry, Route
    from callcenter.agi.server import FastAGIServer
    from callcenter.config import Settings

    logging.basicConfig(level=logging.WARNING)

    async def floor(channel, ctx):
        # The server's own cost: the 1a header in, 4 SET VARIABLEs out, no database.
        for name, value in (("CC_ROUTE", "queue"), ("CC_QUEUE", "vip"), ("QUEUE_PRIO", "10"), ("CC_TIER", "vip")):
            await channel.set_variable(name, value)

    async def transport(channel, ctx):
        # route_call's transport: one trip to a database thread (no database), then the
        # 10 variables route_call sets.
        await ctx.run_db(int)
        await channel.set_variables(TRANSPORT_VARIABLES)

    registry = Registry(ROUTES)
    registry.add(Route("bench_floor", floor))
    registry.add(Route("bench_transport", transport))
    settings = Settings(database_url=db_url, agi_host="127.0.0.1", agi_port=0, **(overrides or {}))

    if workers > 1:
        from callcenter.agi.process import listening_socket, run_workers

        sock = listening_socket(settings, "127.0.0.1", 0)
        conn.send(sock.getsockname()[1])
        run_workers(settings, registry, workers=workers, sock=sock)    # until SIGTERM
        conn.send({"workers": workers})
        return

    async def main():
        server = FastAGIServer(settings, registry)
        await server.start()
        freeze_startup_objects()                   # as callcenter agi does
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(server.port)
        await stop.wait()
        await server.stop(grace_s=2)
        stats = dict(server.stats)
        if getattr(server, "inline", None) is not None:
            stats.update(inline=server.inline.ran, handed_to_thread=server.inline.handed_off)
        checkpointer = getattr(server, "_checkpointer", None)
        if checkpointer is not None:
            stats.update(wal_checkpoints=checkpointer.passes, wal_incomplete=checkpointer.incomplete,
                         wal_truncations=checkpointer.truncations)
        conn.send(stats)

    run_loop(main, settings)


# --- the peer: panoramisk's FastAGI server, in its own process -------------------------------------

PEER_VERSION = "1.4"


def serve_panoramisk(db_url: str, conn, overrides: dict | None = None) -> None:
    """route_call on panoramisk's FastAGI ``Application``: what a site would write on
    that library, doing the product's database work and decision, and writing nothing.

    Same process set-up as the product's server (``serve``), so that the comparison is
    of the two FastAGI servers around the same work: the event loop of ``loop_factory``
    (uvloop unless ``--set agi_event_loop=asyncio``), the listen backlog of
    ``agi_backlog`` (asyncio.start_server's default of 100 would drop SYNs of a
    200-channel burst), start-up objects frozen out of the garbage collector.

    panoramisk 1.4 traps, neither of which this benchmark trips:
    - ``add_route`` wraps a plain ``def`` in ``asyncio.coroutine``, which Python 3.11
      removed: the route must be ``async def``;
    - ``Application.handler`` reads the header with ``while b'\\n\\n' not in buffer:
      buffer += await reader.read(100)``: a peer that connects and closes before the
      header ends makes it spin on b"" for ever (one connection = one core). The load
      generator always sends the whole header, and the scans phase is not run here.
    """
    import gc
    import logging

    logging.basicConfig(level=logging.WARNING)
    stats: dict = {"routed": 0, "refused": 0, "failed": 0, "ivr_not_run": 0}
    try:
        from dataclasses import replace
        from importlib.metadata import version

        from panoramisk.fast_agi import Application

        from callcenter.agi.process import loop_factory
        from callcenter.agi.variables import decision_variables
        from callcenter.config import Settings
        from callcenter.db import make_engine
        from callcenter.services.calls import routing

        settings = Settings(database_url=db_url, **(overrides or {}))
        stats["version"] = version("panoramisk")
        # The database: one SQLAlchemy Connection, used directly on the event-loop thread
        # (no thread pool). Why: this workload is two indexed SQLite reads per call (tens
        # of µs, WAL: a read never waits for a lock, and the peer writes nothing), the
        # same case in which the product runs them inline on its loop thread
        # (callcenter/agi/inline.py); a run_in_executor hop would add GIL hand-offs
        # between two busy threads (~800 µs/call measured there) that the product does
        # not pay, and the ratio would flatter the product. So the peer runs in its
        # cheapest form. (A thread pool is what a real deployment on PostgreSQL, or one
        # that can meet a write lock, would need: there a query can block the loop.)
        engine = make_engine(db_url)
        db = engine.connect()
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which goes on without the peer
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        return

    async def route_call(request):
        """``async def``: panoramisk 1.4 cannot take a plain ``def`` on Python 3.11."""
        try:
            headers = request.headers
            uniqueid = headers.get("agi_uniqueid", "")
            dialled = headers.get("agi_extension", "")
            if not any(ch.isdigit() for ch in dialled):     # "s": the DID is in agi_dnid
                dialled = headers.get("agi_dnid", "")
            call = routing.RouteRequest(
                uniqueid=uniqueid, linkedid=headers.get("agi_arg_1", "").strip() or uniqueid,
                channel=headers.get("agi_channel", ""), dialled=dialled,
                caller_number=headers.get("agi_callerid", ""), caller_name=headers.get("agi_calleridname", ""))
            with db.begin():                                # one read transaction, as the product's
                plan = routing.plan_route(db, settings, call)
            if plan.ivr_flow:                               # not on the bench's VIP line
                stats["ivr_not_run"] += 1
            decision = replace(routing.decide(plan, settings, None), pop_key=plan.pop_key)
            for name, value in decision_variables(decision).items():
                reply = await request.send_command(f'SET VARIABLE {name} "{value}"')
                if "error" in reply:
                    stats["refused"] += 1
                    return
            stats["routed"] += 1
        except Exception as exc:
            stats["failed"] += 1
            stats.setdefault("first_error", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
            # not raised on: panoramisk would log a traceback per call; it closes the socket

    async def main():
        app = Application()
        app.add_route("route_call", route_call)
        server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=settings.agi_backlog)
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()
        await server.wait_closed()
        conn.send(stats)

    try:
        with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
            runner.run(main())
    except Exception as exc:  # noqa: BLE001 - e.g. the server cannot start: reported, not raised
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        db.close()
        engine.dispose()


def _own_cpu(pid: int, thread: bool = False) -> float:
    """CPU of the process (all its threads), or of its main thread alone."""
    try:
        stat = f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat"
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds(pid: int) -> float:
    """CPU of the server: the process and its live worker processes."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return _own_cpu(pid) + sum(_own_cpu(int(child)) for child in children)


def loop_thread_cpu(pid: int) -> float:
    """CPU of the main threads only (the event loops) of the server and its worker
    processes; the rest of cpu_seconds is their other threads (the product's recorder,
    WAL checkpointer and database threads)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return sum(_own_cpu(p, thread=True) for p in (pid, *map(int, children)))


def machine_cpu() -> float:
    """CPU seconds used by everything on the machine (all cores, idle excluded)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields]
    busy = sum(values) - values[3] - values[4]          # minus idle and iowait
    return busy / TICK


class CpuMeter:
    """Server, generator and other CPU over one phase."""

    def __init__(self, pid: int):
        self.pid = pid
        self.server0, self.gen0, self.all0 = cpu_seconds(pid), time.process_time(), machine_cpu()
        self.wall0 = time.perf_counter()

    def read(self, calls: int) -> dict:
        server = cpu_seconds(self.pid) - self.server0
        generator = time.process_time() - self.gen0
        total = machine_cpu() - self.all0
        wall = time.perf_counter() - self.wall0
        calls = max(1, calls)
        return {"server": server / calls, "generator": generator / calls,
                "others_cores": max(0.0, total - server - generator) / wall}


# --- the synthetic Asterisk ----------------------------------------------------------------------

class Call(asyncio.Protocol):
    """Asterisk's side of one FastAGI call."""

    def __init__(self, header: bytes, done: asyncio.Future, started: float):
        self.header = header
        self.done = done
        self.started = started
        self.first_byte: float | None = None
        self.commands = 0
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.header)

    def data_received(self, data):
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
        data = self.buf + data
        *lines, self.buf = data.split(b"\n")
        out = []
        for line in lines:
            self.commands += 1
            if line.startswith(b"SET VARIABLE CC_ROUTE_REASON "):
                REASONS[line.split(b" ", 3)[3].strip(b'"').decode()] += 1
            out.append(b"200 result=1 (13800138000)\n" if line.startswith(b"GET ") else b"200 result=1\n")
        self.transport.write(b"".join(out))

    def eof_received(self):
        self.transport.write(b"HANGUP\n")
        if not self.done.done():
            self.done.set_result(time.perf_counter())
        return False

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost: {exc}"))


class Load:
    def __init__(self, port: int, route: str):
        self.port = port
        self.route = route
        self.n = 0
        self.rng = random.Random(7)

    def header(self) -> bytes:
        self.n += 1
        uid = f"{int(time.time())}.{self.n}"
        caller = caller_number(self.rng.randint(1, CUSTOMERS))
        return HEADER_TEMPLATE.format(route=self.route, n=self.n, uid=uid, caller=caller, line=VIP_LINE).encode()

    async def one(self, timeout: float = 10.0, connect_timeout: float | None = None) -> tuple[float, float, int]:
        """(latency, time to first command, commands) of one call; raises on failure.
        Lean on purpose (one timer, no wait_for): the generator must cost less than
        the server it measures."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        done = loop.create_future()
        timer = loop.call_later(timeout, _expire, done)
        try:
            connecting = loop.create_connection(lambda: Call(self.header(), done, started), "127.0.0.1", self.port)
            if connect_timeout is not None:
                connecting = asyncio.wait_for(connecting, connect_timeout)
            transport, proto = await connecting
            try:
                ended = await done
            finally:
                transport.close()
        finally:
            timer.cancel()
        return ended - started, (proto.first_byte or ended) - started, proto.commands


def _expire(done: asyncio.Future) -> None:
    if not done.done():
        done.set_exception(TimeoutError("no end of session"))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def closed_loop(load: Load, concurrency: int, duration: float) -> dict:
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + duration

    async def worker():
        nonlocal failures
        while time.perf_counter() < stop_at:
            try:
                latency, _, commands = await load.one()
                if commands == 0:
                    failures += 1
                latencies.append(latency)
            except (OSError, TimeoutError):
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"calls": len(latencies), "rate": len(latencies) / elapsed, "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99), "failures": failures, "elapsed": elapsed, "latencies": latencies}


async def open_loop(load: Load, rate: float, duration: float) -> dict:
    latencies: list[float] = []
    failures = 0
    lag = 0.0

    async def one():
        nonlocal failures
        try:
            latency, _, commands = await load.one()
            latencies.append(latency)
            failures += commands == 0
        except (OSError, TimeoutError):
            failures += 1

    tasks = []
    start = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag = max(lag, -delay)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return {"calls": total, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "failures": failures,
            "generator_lag": lag}


async def burst(load: Load, size: int) -> dict:
    async def one():
        try:
            return await load.one(timeout=10.0, connect_timeout=10.0)
        except (OSError, TimeoutError):
            return None

    results = await asyncio.gather(*(one() for _ in range(size)))
    served = [r for r in results if r is not None and r[2] > 0]
    ttfb = [r[1] for r in served]
    return {"size": size, "unserved": size - len(served), "max_ttfb": max(ttfb) if ttfb else float("nan"),
            "within_2s": sum(t < 2.0 for t in ttfb)}


async def scan_storm(port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    head = HEADER_TEMPLATE.encode()[:120]
    for i in range(count):
        try:
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        except OSError:
            continue
        if i % 3 == 0:
            transport.close()                      # nc -z: connect, FIN
        elif i % 3 == 1:
            transport.abort()                      # RST
        else:
            transport.write(head)                  # dies inside the header
            transport.close()


async def disturbance(load: Load, pid: int, rounds: int) -> dict:
    """Calls before and after storms, interleaved so that both see the same machine
    state. Each round: 1 s of calls (10 channels), a storm of 300 bare connects, RSTs
    and half headers, 1 s idle (the server's CPU is read: a spinning loop would burn
    it), 1 s of calls again. Judged on the medians of the rounds (a disturbance that
    lasts) and on the worst window against the worst undisturbed one (a one-off stall)."""
    calm: list[float] = []
    after: list[float] = []
    idle_cpu: list[float] = []
    for _ in range(rounds):
        calm.append((await closed_loop(load, 10, 1.0))["p99"])
        await scan_storm(load.port, 300)
        await asyncio.sleep(0.2)                   # let the server see every close
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        idle_cpu.append(cpu_seconds(pid) - before)
        after.append((await closed_loop(load, 10, 1.0))["p99"])
    result = {"rounds": rounds, "calm_median": statistics.median(calm), "after_median": statistics.median(after),
              "calm_max": max(calm), "after_max": max(after), "idle_cpu_max": max(idle_cpu)}
    result["ok"] = (result["after_median"] <= 1.5 * result["calm_median"] + 0.002
                    and result["after_max"] <= max(3 * result["calm_max"], result["calm_max"] + 0.010)
                    and result["idle_cpu_max"] < 0.05)
    return result


# --- the per-call script -------------------------------------------------------------------------

def classic_header(i: int) -> bytes:
    text = HEADER_TEMPLATE.format(route="x", n=i, uid=f"{int(time.time())}.{900000 + i}",
                                  caller=caller_number(1 + i * 37 % CUSTOMERS), line=VIP_LINE)
    lines = [line for line in text.split("\n") if not line.startswith(("agi_network", "agi_request"))]
    return ("agi_request: /var/lib/asterisk/agi-bin/route_call.py\n" + "\n".join(lines)).encode()


async def script_call(i: int, db_url: str) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "agi_scripts" / "route_call.py"), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ, CALLCENTER_DATABASE_URL=db_url))
    proc.stdin.write(classic_header(i))
    while line := await proc.stdout.readline():
        proc.stdin.write(b"200 result=1 (13800138000)\n" if line.startswith(b"GET ") else b"200 result=1\n")
    proc.stdin.close()
    await proc.wait()
    return time.perf_counter() - started


async def scripts(db_url: str, calls: int, concurrency: int = 2) -> dict:
    gate = asyncio.Semaphore(concurrency)

    async def one(i):
        async with gate:
            return await script_call(i, db_url)

    started = time.perf_counter()
    latencies = await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - started
    return {"calls": calls, "rate": calls / elapsed, "p50": statistics.median(latencies)}


# --- main ------------------------------------------------------------------------------------------

def generate(coro, loop: str):
    """Run the synthetic Asterisk. It shares the 2 cores with the server, and the real
    Asterisk is C, so it runs as lean as it can: on uvloop (when installed), with every
    object that exists before the phases frozen out of the garbage collector (a full
    collection over SQLAlchemy's and the seeding's objects paused it ~20-30 ms, which
    the calls in flight then measured as the server's latency)."""
    import gc

    gc.collect()
    gc.freeze()
    factory = asyncio.new_event_loop
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed: the load generator runs on asyncio's event loop")
        else:
            factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    finally:
        gc.unfreeze()


def start_server(db_url: str, overrides: dict, workers: int):
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(db_url, child, overrides, workers), name="fastagi-bench")
    server.start()
    return server, parent, parent.recv()


def stop_server(server, parent, workers: int) -> dict:
    if workers > 1:
        os.kill(server.pid, signal.SIGTERM)
    else:
        parent.send("stop")
    stats = parent.recv() if parent.poll(30) else {}
    server.join(30)
    return stats


def start_peer(db_url: str, overrides: dict):
    """The panoramisk peer's process: (process, pipe, port), or (None, None, why not)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    peer = ctx.Process(target=serve_panoramisk, args=(db_url, child, overrides), name="panoramisk-bench")
    peer.start()
    first = parent.recv() if parent.poll(120) else {"error": "did not start within 120 s"}
    if isinstance(first, dict):
        peer.join(10)
        if peer.is_alive():
            peer.kill()
            peer.join()
        return None, None, " ".join(str(first.get("error", first)).split())[:240]
    return peer, parent, first


def stop_peer(peer, parent) -> dict:
    try:
        parent.send("stop")
        stats = parent.recv() if parent.poll(30) else {}
    except (OSError, EOFError):
        stats = {}
    peer.join(30)
    if peer.is_alive():
        peer.kill()
        peer.join()
    return stats


def fmt_cpu(cpu: dict) -> str:
    return (f"server CPU {cpu['server']*1e6:.0f} µs/call, generator {cpu['generator']*1e6:.0f} µs/call, "
            f"other processes {cpu['others_cores']:.2f} cores")


async def route_phases(port: int, pid: int, rows: list, label: str, q: bool, profile: bool = False,
                       sweep: tuple[int, ...] = ()) -> dict:
    """Closed loop (200 channels) and open loop (1,000 calls/s) of route_call; then an
    open loop at each rate of ``sweep``."""
    swept: list[dict] = []
    route = Load(port, "route_call")
    await closed_loop(route, 50, 1.0)                              # warm caches and pools
    await drain(pid)
    profiler = None
    if profile:
        out = RESULTS / "agi_routing_profile.txt"
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        profiler = subprocess.Popen([spy, "record", "-p", str(pid), "--subprocesses", "-f", "raw", "-o", str(out),
                                     "-d", str(int(3 if q else 8))], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    REASONS.clear()
    meter = CpuMeter(pid)
    c = await closed_loop(route, 200, 3.0 if q else 10.0)
    cpu = meter.read(c["calls"])
    if profiler:
        profiler.wait()
    reasons = ", ".join(f"{k} {v * 100 / max(1, sum(REASONS.values())):.0f}%" for k, v in REASONS.most_common())
    rows.append((f"{label}closed loop: route_call, 200 channels",
                 f"{c['rate']:.0f} calls/s  p50 {c['p50']*1e3:.1f} ms  p99 {c['p99']*1e3:.1f} ms",
                 f"{fmt_cpu(cpu)}; {c['failures']} failures; reasons: {reasons}"))
    await drain(pid)
    meter = CpuMeter(pid)
    o = await open_loop(route, 1000, 3.0 if q else 10.0)
    cpu = meter.read(o["calls"])
    rows.append((f"{label}open loop: route_call, 1,000 calls/s arriving",
                 f"p50 {o['p50']*1e3:.1f} ms  p99 {o['p99']*1e3:.1f} ms {'OK' if o['p99'] <= 0.025 else 'MISSED'}"
                 " (target p99 <= 25 ms)",
                 f"{o['calls']} calls, {o['failures']} failures, generator lag {o['generator_lag']*1e3:.0f} ms; "
                 f"{fmt_cpu(cpu)}"))
    await drain(pid)
    for rate in sweep:
        meter = CpuMeter(pid)
        r = await open_loop(route, rate, 5.0 if q else 10.0)
        cpu = meter.read(r["calls"])
        r["rate"] = rate
        swept.append(r)
        rows.append((f"{label}sweep: route_call, {rate:,} calls/s arriving",
                     f"p50 {r['p50']*1e3:.1f} ms  p99 {r['p99']*1e3:.1f} ms {'OK' if r['p99'] <= 0.025 else 'MISSED'}",
                     f"{r['failures']} failures; {fmt_cpu(cpu)}"))
        await drain(pid)
    if sweep:
        met = [r["rate"] for r in swept if r["p99"] <= 0.025 and not r["failures"]]
        rows.append((f"{label}sweep: highest rate with p99 <= 25 ms",
                     f"{max(met):,} calls/s" if met else "none of the rates tried", ""))
    return {"closed": c, "open": o}


async def peer_phase(product: tuple[int, int], peer: tuple[int, int], rows: list, q: bool,
                     product_label: str) -> dict:
    """route_call, closed loop at 200 channels, on the product's server and on the
    panoramisk peer (each a (port, pid)), in alternating rounds (product, peer, peer,
    product, ...) so that both meet the same machine; both servers are drained before
    every round. Figures are over all of a server's rounds."""
    rounds, duration = (2, 2.0) if q else (4, 5.0)
    names = ("product", "peer")
    ports_pids = dict(zip(names, (product, peer)))
    loads = {name: Load(port, "route_call") for name, (port, _) in ports_pids.items()}
    await closed_loop(loads["peer"], 50, 1.0)                      # warm the peer's caches
    totals = {name: {"calls": 0, "elapsed": 0.0, "latencies": [], "failures": 0, "server": 0.0,
                     "generator": 0.0, "loop": 0.0, "others": [], "reasons": collections.Counter()}
              for name in names}
    for i in range(rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            for _, pid in ports_pids.values():
                await drain(pid)
            REASONS.clear()
            meter = CpuMeter(ports_pids[name][1])
            loop0 = loop_thread_cpu(ports_pids[name][1])
            c = await closed_loop(loads[name], 200, duration)
            cpu = meter.read(c["calls"])
            t = totals[name]
            t["loop"] += loop_thread_cpu(ports_pids[name][1]) - loop0
            t["calls"] += c["calls"]
            t["elapsed"] += c["elapsed"]
            t["latencies"] += c["latencies"]
            t["failures"] += c["failures"]
            t["server"] += cpu["server"] * max(1, c["calls"])
            t["generator"] += cpu["generator"] * max(1, c["calls"])
            t["others"].append(cpu["others_cores"])
            t["reasons"].update(REASONS)
    result = {}
    for name, label in zip(names, (product_label, f"panoramisk {PEER_VERSION} peer")):
        t = totals[name]
        calls = max(1, t["calls"])
        cpu = {"server": t["server"] / calls, "generator": t["generator"] / calls,
               "others_cores": statistics.mean(t["others"])}
        seen = sum(t["reasons"].values())
        reasons = ", ".join(f"{k} {v * 100 / max(1, seen):.0f}%" for k, v in t["reasons"].most_common())
        rate = t["calls"] / t["elapsed"] if t["elapsed"] else 0.0
        rows.append((f"peer: closed loop: route_call on {label}, 200 channels",
                     f"{rate:.0f} calls/s  p50 {pct(t['latencies'], 0.5)*1e3:.1f} ms  "
                     f"p99 {pct(t['latencies'], 0.99)*1e3:.1f} ms",
                     f"{fmt_cpu(cpu)} (event-loop thread {t['loop'] / calls * 1e6:.0f}, other threads "
                     f"{(cpu['server'] - t['loop'] / calls) * 1e6:.0f}); {t['failures']} failures; "
                     f"reasons: {reasons or 'none'}"))
        result[name] = {"rate": rate, "cpu": cpu["server"], "calls": t["calls"], "failures": t["failures"]}
    peer_ok = result["peer"]["calls"] - result["peer"]["failures"]
    if peer_ok <= 0:
        rows.append(("peer: ratio product / panoramisk CPU per call", "not measured",
                     "the peer routed no call (see its outcomes below)"))
    else:
        ratio = result["product"]["cpu"] / result["peer"]["cpu"]
        rows.append(("peer: ratio product / panoramisk server CPU per call",
                     f"{ratio:.2f} {'OK' if ratio <= 1.0 else 'MISSED'} (target <= 1.0)",
                     f"calls/s product/peer {result['product']['rate'] / max(1e-9, result['peer']['rate']):.2f}; "
                     f"{rounds} alternating rounds of {duration:.0f} s per server"))
    return result


def postgres_database(url: str):
    """A private database in the server of ``url``: (url of it, drop function), or None."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"agi_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: the phase is skipped with the reason
        admin.dispose()
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

    def drop():
        from callcenter.db import engine_for

        engine_for(private).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    private = make_url(url).set(database=name).render_as_string(hide_password=False)
    return (private, drop), ""


def seed_postgres(url: str) -> None:
    """The same data as the SQLite file: example lines, 100,000 customers with one mobile each."""
    from sqlalchemy import text

    from callcenter import migrate
    from callcenter.db import engine_for, session_scope
    from callcenter.services.setup import defaults

    migrate.upgrade(url)
    with session_scope(url) as session:
        defaults.setup_defaults(session)
    tiers = "(ARRAY['vip','member','ordinary'])[CASE WHEN i % 100 < 5 THEN 1 WHEN i % 100 < 20 THEN 2 ELSE 3 END]"
    with engine_for(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO customers (id, name, tier, important, area, building, unit, room, address, notes,"
            " created_at, updated_at) SELECT i, '客户' || i, " + tiers + ", false, '', '', '', '', '', '',"
            " now(), now() FROM generate_series(1, :n) AS i"), {"n": CUSTOMERS})
        conn.execute(text(
            "INSERT INTO customer_phones (customer_id, e164, raw, label) SELECT i, '+86139' || lpad(i::text, 8, '0'),"
            " '139' || lpad(i::text, 8, '0'), '' FROM generate_series(1, :n) AS i"), {"n": CUSTOMERS})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('customers', 'id'), :n)"), {"n": CUSTOMERS})
    with engine_for(url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine_for(url).dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases (a smoke run, noisier figures)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during the closed loop")
    parser.add_argument("--workers", type=int, default=1, help="FastAGI worker processes (callcenter agi --workers)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a server setting, e.g. agi_db_threads=8 (repeatable)")
    parser.add_argument("--postgres", default=os.environ.get("CALLCENTER_TEST_PG",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
                        help="PostgreSQL server for the PostgreSQL phases (a private database is created there)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL phases")
    parser.add_argument("--sweep", nargs="?", const="500,600,700,800,900,1000", default="",
                        type=lambda text: tuple(int(r) for r in text.split(",") if r),
                        help="after the open loop, route_call at each of these arrival rates (calls/s, "
                             "comma-separated; default 500..1000) and the highest that keeps p99 <= 25 ms")
    parser.add_argument("--generator-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop of the synthetic Asterisk (default uvloop, when installed)")
    parser.add_argument("--peer", choices=["panoramisk", "none"], default="panoramisk",
                        help=f"serve route_call on panoramisk {PEER_VERSION} too and compare (default), or not")
    args = parser.parse_args()
    q = args.quick
    overrides = dict(item.split("=", 1) for item in args.set)
    seed = seeded_database()
    workdir = Path(tempfile.mkdtemp(prefix="agi-bench-"))
    db = workdir / "bench.db"
    shutil.copy(seed, db)
    db_url = f"sqlite:///{db}"

    service = service_cost(db_url, 100 if q else 300)
    server, parent, port = start_server(db_url, overrides, args.workers)
    pid = server.pid
    rows: list[tuple[str, str, str]] = []
    peer = peer_parent = None
    peer_stats: dict = {}
    if args.peer == "panoramisk":
        # Started now, idle until its phase: its start-up (imports) must not land in a
        # phase of the product's.
        peer, peer_parent, peer_port = start_peer(db_url, overrides)      # port, or why not
        if peer is None:
            rows.append((f"peer: panoramisk {PEER_VERSION}", "not run",
                         f"{peer_port}; pip install panoramisk=={PEER_VERSION} (or .[bench])"))

    async def run_fastagi():
        floor = Load(port, "bench_floor")
        route = Load(port, "route_call")
        await closed_loop(route, 50, 1.0)                              # warm caches and pools
        meter = CpuMeter(pid)
        f = await closed_loop(floor, 200, 2.0 if q else 5.0)
        rows.append(("floor: 4 SET VARIABLE, no DB, 200 channels",
                     f"{f['rate']:.0f} calls/s  p50 {f['p50']*1e3:.1f} ms  p99 {f['p99']*1e3:.1f} ms",
                     fmt_cpu(meter.read(f["calls"]))))
        await drain(pid)
        fo = await open_loop(floor, 1000, 2.0 if q else 5.0)
        rows.append(("floor: 1,000 calls/s arriving",
                     f"p50 {fo['p50']*1e3:.1f} ms  p99 {fo['p99']*1e3:.1f} ms",
                     f"{fo['failures']} failures, generator lag {fo['generator_lag']*1e3:.0f} ms"))
        await drain(pid)
        fb = await burst(floor, 500)
        rows.append(("floor: 500 connections at once",
                     f"max time to first command {fb['max_ttfb']*1e3:.0f} ms, {fb['within_2s']}/500 within 2 s",
                     f"unserved after 10 s: {fb['unserved']}"))
        await drain(pid)
        meter = CpuMeter(pid)
        t = await closed_loop(Load(port, "bench_transport"), 200, 2.0 if q else 5.0)
        rows.append(("transport: 1 DB-thread hop + 10 SET VARIABLE, no DB",
                     f"{t['rate']:.0f} calls/s  p50 {t['p50']*1e3:.1f} ms  p99 {t['p99']*1e3:.1f} ms",
                     fmt_cpu(meter.read(t["calls"]))))
        await drain(pid)
        rows.append(("routing service alone (route_and_record)",
                     f"{service['route_and_record']*1e6:.0f} µs CPU/call",
                     "in-process, serial, one transaction per call"))
        result = await route_phases(port, pid, rows, "", q, args.profile, args.sweep)
        b = await burst(route, 500)
        rows.append(("burst: 500 connections at once",
                     f"max time to first command {b['max_ttfb']*1e3:.0f} ms, {b['within_2s']}/500 within 2 s "
                     f"{'OK' if b['within_2s'] == 500 else 'MISSED'}",
                     f"unserved after 10 s: {b['unserved']}"))
        await drain(pid)
        d = await disturbance(route, pid, 4 if q else 8)
        rows.append((f"scans: {d['rounds']} x 300 bare connect/close, RST, half header",
                     f"p99 of the calls after, median {d['after_median']*1e3:.1f} ms vs before "
                     f"{d['calm_median']*1e3:.1f} ms, worst {d['after_max']*1e3:.1f} vs {d['calm_max']*1e3:.1f} ms "
                     f"{'OK' if d['ok'] else 'MISSED'}",
                     f"server CPU while idle after a storm: {d['idle_cpu_max']*1e3:.0f} ms/s"))
        if peer is not None:
            await drain(pid)
            product = "the product" + (f" ({args.workers} workers)" if args.workers > 1 else "")
            try:
                await peer_phase((port, pid), (peer_port, peer.pid), rows, q, product)
            except (OSError, RuntimeError, ValueError, ZeroDivisionError) as exc:
                rows.append((f"peer: panoramisk {PEER_VERSION}", "could not be measured",
                             f"{type(exc).__name__}: {exc}"))
        return result["closed"]

    try:
        closed = generate(run_fastagi(), args.generator_loop)
    finally:
        stats = stop_server(server, parent, args.workers)
        if peer is not None:
            peer_stats = stop_peer(peer, peer_parent)
            if peer_stats.get("error"):
                rows.append((f"peer: panoramisk {PEER_VERSION}", "failed while serving", peer_stats["error"]))
    s = asyncio.run(scripts(db_url, 6 if q else 30))
    ratio = closed["rate"] / s["rate"]
    rows.append(("per-call script agi_scripts/route_call.py, 2 at a time",
                 f"{s['rate']:.1f} calls/s  p50 {s['p50']*1e3:.0f} ms", f"{s['calls']} calls"))
    rows.append(("ratio FastAGI / per-call script at 200 channels",
                 f"{ratio:.0f}x {'OK' if ratio >= 50 else 'MISSED'} (target >= 50x)", ""))

    pg_stats: dict = {}
    if not args.no_postgres:
        made, why = postgres_database(args.postgres)
        if made is None:
            rows.append(("PostgreSQL", "skipped", why))
        else:
            pg_url, drop = made
            try:
                started = time.perf_counter()
                seed_postgres(pg_url)
                seeded = time.perf_counter() - started
                pg_server, pg_parent, pg_port = start_server(pg_url, overrides, args.workers)
                try:
                    generate(route_phases(pg_port, pg_server.pid, rows, "PostgreSQL: ", q, sweep=args.sweep),
                             args.generator_loop)
                finally:
                    pg_stats = stop_server(pg_server, pg_parent, args.workers)
                rows.append(("PostgreSQL: database", "private, dropped after the run",
                             f"seeded {CUSTOMERS:,} customers in {seeded:.0f} s"))
            finally:
                drop()

    width = max(len(r[0]) for r in rows)
    setup = f"{args.workers} worker process{'es' if args.workers > 1 else ''}" + \
        (f", {', '.join(args.set)}" if args.set else "") + f", load generator on {args.generator_loop}"
    print(f"\nFastAGI routing benchmark ({'quick' if q else 'full'}; {os.cpu_count()} cores, "
          f"SQLite, {CUSTOMERS:,} customers, Python {sys.version.split()[0]}; {setup})")
    print("-" * 120)
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure}" + (f"  [{note}]" if note else ""))
    print("-" * 120)
    print(f"server outcomes: {stats}")
    if peer_stats:
        print(f"panoramisk peer outcomes: {peer_stats}")
    if pg_stats:
        print(f"server outcomes on PostgreSQL: {pg_stats}")
    print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} (figures are only comparable "
          "within one run)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
