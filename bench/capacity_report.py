"""The generated sections of docs/capacity.md (``<!-- capacity:NAME -->``), from :class:`bench.capacity.Results`.

The sections: ``fleet`` (the fleet's own costs), ``validation`` (the model against the real runs), ``regimes``
(every routing on P5's traffic), ``sizing`` (terminals per size, the settings compared, the login cost's effect) and
``limits``. Text outside them is written by hand and kept.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.capacity import TARGETS, Results
from bench.capacity_members import HEARTBEAT, LOAD_REPORT
from bench.capacity_routing import BASELINE, LOAD
from bench.capacity_sizing import STABLE
from bench.capacity_validation import RUNS
from harness import markdown, runs
from harness.markdown import table

MARKS = markdown.Sections("capacity")
SECTIONS = ("fleet", "validation", "regimes", "sizing", "limits")
HEALTHCHECK = 30.0  # seconds between a worker's container healthchecks (docker-compose.yml): a Celery ping each


def write_docs(path: Path, r: Results) -> None:
    footer = f"\n\nCommand: `{runs.command('bench.capacity', _argv())}`; machine: {runs.machine()}.\n"
    bodies = {"fleet": fleet(r), "validation": validation(r), "regimes": regimes(r), "sizing": sizing(r),
              "limits": limits(r)}  # fmt: skip

    def edit(text: str) -> str:
        for name, body in bodies.items():
            text = MARKS.replace(text, name, body + footer)
        return text

    markdown.rewrite(path, lambda: "# Capacity\n\n" + "\n".join(MARKS.placeholder(n) for n in SECTIONS), edit)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


def _n(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def fleet(r: Results) -> str:
    rows = [(f"{c.workers:,}", _n(c.before_us), _n(c.send_light_us), _n(c.send_heavy_us), _n(c.send_plain_us),
             _n(c.send_miss_us), f"{c.full_rankings:.2%}", _n(c.refresh_ms, 2), _n(c.refresh_redis_us, 0),
             _n(c.join_ms), f"{c.accounts:,}") for c in r.routing]  # fmt: skip
    routing = table(["workers", "before (us)", "send, light (us)", "send, heavy (us)", "send, order or factor 0 (us)",
                     "send, account not cached (us)", "sends past the top 8", "reading, client (ms)",
                     "reading, Redis (us)", "join, cache update (ms)", "accounts cached"], rows)  # fmt: skip
    cache = r.cache_bytes
    move_rows = [(f"{m.workers:,}", f"{m.accounts:,}", f"{m.join_moved:.4f}", f"{1 / (m.workers + 1):.4f}",
                  f"{m.leave_moved_max:.4f}", f"{1 / m.workers:.4f}",
                  "" if m.bounded_requests_moved is None else f"{m.bounded_requests_moved:.4f}",
                  "" if m.bounded_spilled is None else f"{m.bounded_spilled:.2%}") for m in r.moves]  # fmt: skip
    moves = table(["workers N", "accounts", "moved by a join", "1/(N+1)", "largest share a leave moves", "1/N",
                   "requests placed elsewhere, bounded load", "requests spilled"], move_rows)  # fmt: skip
    m, b, s, e = r.membership, r.broadcast, r.sessions, r.events
    assert m is not None and b is not None and s is not None and e is not None
    before_drains, now_drains = m.drains_per_s
    member_rows = [
        ("heartbeats + load reports + status records, nobody departed", _n(m.steady.commands_per_s, 0),
         f"{m.steady.redis_cpu:.1%}", f"{m.before_steady_redis_cpu:.1%}", _n(m.steady.client_cpu_ms_per_worker_s, 2)),
        ("load reports alone", _n(m.reports_only.commands_per_s, 0), f"{m.reports_only.redis_cpu:.1%}",
         f"{m.reports_reconnecting.redis_cpu:.1%} ({_n(m.reports_reconnecting.commands_per_s, 0)} commands/s)",
         _n(m.reports_only.client_cpu_ms_per_worker_s, 2)),
        (f"with {m.departed:,} departed members lingering", _n(m.after_departures.commands_per_s, 0),
         f"{m.after_departures.redis_cpu:.1%}", f"{m.before_departed_redis_cpu:.1%}",
         _n(m.after_departures.client_cpu_ms_per_worker_s, 2)),
    ]  # fmt: skip
    members = table(["what", "Redis commands/s", "Redis CPU (1 core = 100%)",
                     "before the fixes (reports measured; reads, drains from unit costs)",
                     "members' CPU, ms per worker-second"], member_rows)  # fmt: skip
    return f"""\
## Measured: the fleet's own costs

Routing, per send (CPU microseconds of this process; the router's clock moving as the fleet drains, every worker
at 2 requests a second, one request served per send; readings measured apart). *Before* is the definition every
send used to evaluate: `choose_bounded` over every live worker's estimate. *Light*: every backlog within
`MT5_ROUTING_LOAD_FLOOR`, so no fleet total is needed; *heavy*: every backlog past it (random 30-70), so every send
needs the fleet's total (kept by following each estimate's changes); *not cached*: an account's first send after
its prefix was dropped (every worker scored once). The once-a-second reading: the client's CPU (redis-py
decoding three structures of N entries, the router's update) and Redis's. The ranking cache holds
{cache:.0f} bytes per account (50,000 accounts: {cache * 50_000 / 1e6:.0f} MB).

{routing}

Accounts whose first choice moves when one worker joins (averaged over several joiners) or leaves (the largest
share any one worker held: the mean is exactly 1/N). With bounded load (the defaults, a router that sees every
worker drain at 90% of the traffic's rate; Zipf(0.9) over 20 accounts per worker), the share of requests that
went to another terminal after a join, and the share not on their account's first choice:

{moves}

Membership at {m.workers:,} workers, the defaults (heartbeat every {HEARTBEAT:g} s, load report every
{LOAD_REPORT:g} s, status record every second): one heartbeat interval of the fleet's work done with the workers'
own `Heartbeat` step (`beat`, and the thread's load report and status record; a connection each, as in a
worker), Redis's commands and CPU divided by that interval
(Redis's idle CPU with {2 * m.workers:,} connections open: {m.redis_idle_cpu:.1%}, included). *Before*: every
beat read the whole membership ({_n(m.read_redis_us, 0)} us of Redis CPU each) and every worker drained every
departed queue ({before_drains:,.0f} drains/s, each a new broker connection costing {_n(m.drain_redis_us, 0)} us
of Redis CPU and {_n(m.drain_ms, 2)} ms of the worker's; now {now_drains:,.0f}/s).

{members}

The idle sweep, broadcast to {b.subscribers:,} consumers of `mt5.broadcast` (kombu's Redis fan-out: one
`PUBLISH`, a copy per subscriber): {b.delivered:,} copies of a {b.message_bytes:,}-byte message delivered in
{b.deliver_s:.2f} s (read one after another by this process); Redis's CPU {b.redis_us_per_delivery:.1f} us per
copy; its client output buffers held {b.client_buffers_bytes:,} bytes right after the publish (pub/sub queues
nothing: what a subscriber has not read waits in its socket, and a subscriber too slow for the
`client-output-buffer-limit pubsub` is disconnected). Each worker then writes the same task's result and three
events: {b.subscribers * 4:,} more writes a sweep, once a minute.

Sessions: {s.accounts:,} sessions over {s.workers:,} workers' indexes take {s.bytes_per_session:.0f} bytes each in
Redis ({s.accounts * s.bytes_per_session / 1e6:.1f} MB); a last-use write (`ZADD` + `HSET`, one round trip,
at most once a second per session) costs Redis {s.redis_us_per_write:.0f} us of CPU. One sweep round (every
worker's `WorkerRuntime.sweep`, 10% of the sessions idle): {s.evicted:,} sessions evicted, {s.sweep_ms_p50:.2f} ms
per worker (median), {s.sweep_redis_ms:.0f} ms of Redis CPU for the round.

Events: Flower's own state (`flower.events.EventsState`) takes {e.flower_events_per_s:,.0f} events a second on one
core of this machine (task-sent, received, started and succeeded per task, a heartbeat per worker every 2 s); an
event is about {e.event_bytes:.0f} bytes of JSON."""


def validation(r: Results) -> str:
    parts = ["## The model against the real runs\n"]
    for run in RUNS:
        cal, figures = r.calibrations[run.name], r.validation[run.name]
        within = sum(abs(f.error) <= 0.25 for f in figures)
        digits = {"s": 1, "req/s": 1, "logins/req": 2}
        rows = [(f.name + (" (calibrated)" if f.calibrated else ""), _n(f.measured, digits.get(f.unit, 0)),
                 _n(f.model, digits.get(f.unit, 0)), f"{f.error:+.0%}",
                 "" if abs(f.error) <= 0.25 else "**no**") for f in figures]  # fmt: skip
        parts.append(f"""\
### The {run.name} run

Source: {run.source}. Calibrated: the worker's time per request {cal.overhead * 1e3:.1f} ms, the broker's
hand-off for a prefetch-1 worker {cal.handoff * 1e3:.1f} ms, the client's round trip {cal.client * 1e3:.1f} ms,
the workers' start-up {cal.startup:.1f} s. **{within} of {len(figures)} figures within 25%** (the calibrated ones
included).

{table(["figure", "measured", "model", "error", "within 25%"], rows)}
""")
    return "\n".join(parts).rstrip()


def regimes(r: Results) -> str:
    rows = []
    for key in dict.fromkeys(f.regime for f in r.regimes):
        mine = [f for f in r.regimes if f.regime == key]
        best = min(f.p99 for f in mine)
        base = next(f for f in mine if f.variant == BASELINE)
        rows += [(key, f.variant, _n(f.p99 * 1e3, 0), f"{f.p99 / best:.2f}x", f"{f.logins:.2f}",
                  f"{f.capacity / base.capacity:.2f}") for f in mine]  # fmt: skip
    header = ["regime", "routing", "p99 ms", "vs the best", "logins/request", "capacity / (a)"]
    return f"""## Routing near the shared queue: P5's regimes in the model

P5's 4 terminals, costs (the `realistic` profile x0.1, the service's own time as calibrated on the recorded run)
and three regimes, at {LOAD:.0%} of round-robin's capacity; every routing gets the same arrivals (the median over
{"one seed" if r.quick else "three seeds"}). The adaptive rows differ only in how old the loads are that the
router decides on: each worker reports its backlog every `MT5_LOAD_REPORT_INTERVAL`, each client reads the
reports every `MT5_ROUTING_CACHE_SECONDS` and counts its own sends in between; what it sends to the shared queue
is in no terminal's count until the worker that took it reports.

{table(header, rows)}"""


def sizing(r: Results) -> str:
    costs = r.production_costs()
    targets = sorted({s.target for s in r.sizing})
    shapes = list(dict.fromkeys(s.shape for s in r.sizing))
    rows = []
    for shape in shapes:
        for accounts in sorted({s.accounts for s in r.sizing if s.shape == shape}):
            cells: list[str] = [shape, f"{accounts:,}"]
            for target in targets:
                s = next(x for x in r.sizing if x.shape == shape and x.accounts == accounts and x.target == target)
                cells += [_terminals(s), f"{s.utilisation:.0%}" if s.terminals else "", _n(s.logins_per_request, 2)]
            rows.append(cells)
    header = ["traffic", "accounts"]
    for target in targets:
        header += [f"terminals, p99 < {target:g} s", "utilisation", "logins/request"]
    settings_rows = [(shape.split(":")[0], f"{a:,}", f"{w:,}", name, _n(p99, 2), _n(per, 2))
                     for shape, a, w, name, p99, per in r.settings]  # fmt: skip
    sens_rows: list[tuple[str, str, str, str, str]] = []
    for s in r.sensitivity:
        sens_rows.append((s.shape.split(":")[0], f"{s.login:g} s", f"{s.target:g} s", _terminals(s),
                          f"{s.utilisation:.0%}" if s.terminals else ""))  # fmt: skip
    base = [s for s in r.sizing if s.accounts == 50_000]
    sens_rows += [(s.shape.split(":")[0], f"{s.login:g} s (the table above)", f"{s.target:g} s", _terminals(s),
                   f"{s.utilisation:.0%}" if s.terminals else "") for s in base]  # fmt: skip
    settings = table(["traffic", "accounts", "terminals", "settings", "p99 (s)", "logins/request"], settings_rows)
    sens_rows.sort(key=lambda row: (row[0], row[2], float(row[1].split()[0])))
    sensitivity = table(["traffic", "login", "p99 target", "terminals, 50,000 accounts", "utilisation"], sens_rows)
    return f"""\
## Sizing

The calibrated model with a real terminal's costs: `login()` {costs.login:g} s (the `realistic` profile's
assumption; `--login` sets it), the request's own call {costs.call * 1e3:g} ms, an order's {costs.order_call * 1e3:g}
ms, and the service's own time per request as calibrated on the recorded runs ({costs.overhead * 1e3:.1f} ms;
{costs.handoff * 1e3:.1f} ms more for a prefetch-1 worker). Default routing (bounded load 0.1, floor 10, batch
window 50, reports every 0.5 s, readings every 1 s). Each fleet is simulated by {"8" if r.quick else "32"} of its
terminals and their share of the accounts, for about {"1,000" if r.quick else "20,000"} requests after a 30 s
warm-up; the fewest terminals meeting the p99 target are found by bisection (2% resolution). A fleet whose
terminals are busy more than {STABLE:.0%} of the time fails whatever its p99 (its queues would keep growing in a
longer run); "not met" means even one terminal per account misses it (a login alone can take longer).

{table(header, rows)}

The routing settings compared at each size's terminal count for p99 < 5 s (the same traffic, same seed):

{settings if settings_rows else "(not run with --quick)"}

What a real terminal's login cost changes, 50,000 accounts:

{sensitivity if r.sensitivity else "(not run with --quick)"}"""


def limits(r: Results) -> str:
    """The sized fleets' load on the shared parts, from the measured unit costs."""
    m, b, e, q = r.membership, r.broadcast, r.events, r.per_request
    assert m is not None and b is not None and e is not None and q is not None
    per_worker_cpu = m.steady.redis_cpu / m.workers  # membership: heartbeats + load reports, per worker
    reading = {c.workers: c for c in r.routing}
    rows = []
    for s in r.sizing:
        if not s.terminals:
            continue
        rate = s.accounts * _per_minute(s.shape) / 60
        w = s.terminals
        pings = w / HEALTHCHECK * w * b.redis_us_per_delivery / 1e6  # each ping is a broadcast every worker receives
        events = rate * 4 + w / 2
        nearest = min(reading, key=lambda n: abs(n - w)) if reading else None
        client = reading[nearest].refresh_ms * w / nearest / 1e3 if nearest else math.nan
        memory = rate * q.result_expires * q.result_bytes / 1e9
        rows.append((s.shape.split(":")[0], f"{s.accounts:,}", f"p99 < {s.target:g} s", f"{w:,}", _n(rate, 0),
                     f"{rate * q.redis_us / 1e6:.0%}", f"{w * per_worker_cpu:.0%}", f"{pings:.0%}",
                     f"{memory:.1f} GB", f"{events / e.flower_events_per_s:.0%}", f"{client:.1%}"))  # fmt: skip
    header = ["traffic", "accounts", "target", "terminals", "requests/s", "Redis CPU: requests",
              "Redis CPU: heartbeats + load reports", f"Redis CPU: healthcheck pings (every {HEALTHCHECK:g} s)",
              "Redis memory: results", "Flower: share of its core",
              "a client's CPU reading the membership"]  # fmt: skip
    return f"""\
## What the sized fleets ask of the shared parts

The sizing table's fleets, with the unit costs measured above: a request costs Redis {q.commands:.0f} commands and
{q.redis_us:.0f} us of CPU (one real worker, {q.requests:,} `mt5.account_info` requests: the publish, the delivery
and its acknowledgement, the STARTED and SUCCESS results, the events, the session's last use) and keeps a
{q.result_bytes:,.0f}-byte result for `MT5_RESULT_EXPIRES` ({q.result_expires:,} s); a worker's heartbeats and load
reports cost Redis {per_worker_cpu * 1e6 / 1e3:.2f} ms of CPU a second; a healthcheck's Celery ping is a broadcast
every worker receives ({b.redis_us_per_delivery:.1f} us a copy); Flower takes {e.flower_events_per_s:,.0f} events
a second (4 a request, a heartbeat per worker every 2 s); a client reads the membership once a second. Redis runs
commands on one core: 100% is its limit.

{table(header, rows)}"""


def _per_minute(shape: str) -> float:
    from bench.capacity_sizing import SHAPES

    return next(s.per_minute for s in SHAPES if s.name == shape)


def _terminals(s: object) -> str:
    terminals = getattr(s, "terminals", None)
    return f"{terminals:,}" if terminals else "not met"


__all__ = ["SECTIONS", "TARGETS", "write_docs"]
