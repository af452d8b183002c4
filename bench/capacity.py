"""Capacity: the fleet's own costs at up to 10,000 workers on a real Redis, and a model of the fleet calibrated on the
real 4-worker runs, then used to size fleets of 1,000 to 50,000 accounts.

Part 1 (:mod:`bench.capacity_fleet`, :mod:`bench.capacity_members`, :mod:`bench.capacity_broadcast`): per-send
routing cost at 10 to 10,000 registered workers, accounts moved by a join, what 1,000 members' heartbeats and load
reports cost Redis, the broadcast idle sweep to 1,000 subscribers, 50,000 sessions and their sweep, and the event
rate Flower can take.
Part 2 (:mod:`bench.capacity_model`, :mod:`bench.capacity_validation`, :mod:`bench.capacity_sizing`): the model's
predictions beside every figure of the recorded P3 and P5 runs and of a repeat of P5, every routing on P5's three
traffic regimes (:mod:`bench.capacity_routing`), then the terminals needed for p99 under 1 s and 5 s, the routing
settings compared, and what a real terminal's login cost would change.
Writes the generated sections of docs/capacity.md.

    .venv/bin/python -m bench.capacity [--quick] [--docs PATH] [--login 0.5]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from bench import capacity_broadcast, capacity_fleet, capacity_members, capacity_routing, capacity_sizing
from bench.capacity_model import Costs, Fleet
from bench.capacity_validation import RECORDED, RUNS, Calibration, Figure, Replay, calibrate, validate
from bench.harness import fleet
from harness import runs
from harness.env import REPO

DOCS = REPO / "docs" / "capacity.md"
SIZES = (1_000, 5_000, 50_000)
TARGETS = (1.0, 5.0)
SETTINGS = {
    "defaults: bounded load 0.1 (floor 10), window 50": Fleet(1),
    "bounded load 0.25": Fleet(1, load_factor=0.25),
    "load reports every 2 s": Fleet(1, report_interval=2.0),
    "plain affinity, window 50": Fleet(1, routing="affinity"),
    "plain affinity, FIFO": Fleet(1, routing="affinity", window=1),
    "shared queue (round-robin), FIFO": Fleet(1, routing="shared", window=1),
    "shared queue, window 50": Fleet(1, routing="shared"),
    "adaptive, factor 0, floor 0": Fleet(1, routing="adaptive", load_factor=0.0, load_floor=0),
}


@dataclass
class Results:
    quick: bool
    login: float
    routing: list[capacity_fleet.RoutingCost] = field(default_factory=list)
    moves: list[capacity_fleet.Moves] = field(default_factory=list)
    membership: capacity_members.Membership | None = None
    broadcast: capacity_broadcast.Broadcast | None = None
    cache_bytes: float = 0.0  # the ranking cache, per account held
    sessions: capacity_members.Sessions | None = None
    per_request: capacity_members.PerRequest | None = None
    events: capacity_members.Events | None = None
    calibrations: dict[str, Calibration] = field(default_factory=dict)
    validation: dict[str, list[Figure]] = field(default_factory=dict)
    sizing: list[capacity_sizing.Sized] = field(default_factory=list)
    settings: list[tuple[str, int, int, str, float, float]] = field(default_factory=list)  # shape, A, W, setting...
    sensitivity: list[capacity_sizing.Sized] = field(default_factory=list)
    regimes: list[capacity_routing.RoutingFigure] = field(default_factory=list)  # P5's regimes, every routing
    seconds: dict[str, float] = field(default_factory=dict)

    def production_costs(self, login: float | None = None) -> Costs:
        """A real terminal's costs: ``login`` (the setting), the realistic profile's 2 ms call, and the service's own
        per-request costs as calibrated on the recorded runs (no start-up: a running fleet)."""
        cal = self.calibrations[RECORDED.name]
        return replace(cal.costs(1.0, started=True), login=self.login if login is None else login)


def main(argv: list[str] | None = None) -> int:
    parser = runs.parser(__doc__, DOCS)
    parser.add_argument("--login", type=float, default=0.5, help="a real terminal's login() in seconds (default 0.5)")
    parser.add_argument("--workers", type=int, help="members for the heartbeat, sweep and session figures (1000)")
    args = parser.parse_args(argv)
    quick = args.quick
    r = Results(quick, args.login)
    n = args.workers or (20 if quick else 1_000)
    started = time.monotonic()
    with fleet(args.keep_logs, forked=args.quick) as f:
        app = f.client_app(results=False)
        for size in (10, 100) if quick else (10, 100, 1_000, 10_000):
            r.routing.append(capacity_fleet.routing_cost(f.redis_url, size, min(50_000, 10_000_000 // size),
                                                         2_000 if quick else 20_000))  # fmt: skip
            _print(f"routing, {size:,} workers", r.routing[-1])
        for size in (10, 100) if quick else (10, 100, 1_000):
            accounts, joiners = (2_000, 5) if quick else ((20_000, 20) if size < 1_000 else (5_000, 50))
            bounded = (2_000 if quick else 20_000) if size <= 100 else 0
            r.moves.append(capacity_fleet.moves(f.redis_url, size, accounts, joiners, bounded))
            _print(f"moves, {size:,} workers", r.moves[-1])
        r.cache_bytes = capacity_fleet.cache_bytes_per_account(2_000 if quick else 20_000)
        r.seconds["routing"] = time.monotonic() - started
        r.membership = capacity_members.membership(app, f.redis_url, n, departed=max(2, n // 10))
        _print(f"membership, {n:,} workers", r.membership)
        r.broadcast = capacity_broadcast.broadcast(app, f.redis_url, n)
        _print(f"broadcast, {n:,} subscribers", r.broadcast)
        r.sessions = capacity_members.sessions(f.redis_url, 50 * n, n)
        _print(f"sessions, {50 * n:,} accounts", r.sessions)
        f.fresh_redis()
        r.per_request = capacity_members.per_request(f, 200 if quick else 2_000)
        _print("per request", r.per_request)
    r.events = capacity_members.flower_events(2_000 if quick else 20_000)
    _print("events", r.events)
    r.seconds["fleet"] = time.monotonic() - started
    model(r)
    r.seconds["total"] = time.monotonic() - started
    print(f"capacity: {r.seconds['total']:.0f} s (fleet costs {r.seconds['fleet']:.0f} s)")
    docs = runs.docs_target(quick, args.docs, DOCS)
    if docs is not None:
        from bench.capacity_report import write_docs

        write_docs(docs, r)
    return 0


def model(r: Results) -> None:
    """Calibrate on each run, validate, then size."""
    replay = Replay()
    base = calibrate(replay, RECORDED)
    for run in RUNS:
        cal = r.calibrations[run.name] = calibrate(replay, run, base)
        figures = r.validation[run.name] = validate(replay, cal, run)
        within = sum(abs(fig.error) <= 0.25 for fig in figures)
        print(f"model vs {run.name} run: {within} of {len(figures)} figures within 25% ({cal})", flush=True)
    r.regimes = capacity_routing.compare(r.calibrations[RECORDED.name].costs(0.1, started=True), r.quick)
    for figure in r.regimes:
        _print(f"P5 {figure.regime}", figure)
    costs = r.production_costs()
    shapes = capacity_sizing.SHAPES[:1] if r.quick else capacity_sizing.SHAPES
    sizes, targets = ((1_000,), (5.0,)) if r.quick else (SIZES, TARGETS)
    kwargs = {"sample": 8, "requests": 1_000} if r.quick else {}
    for shape in shapes:
        for accounts in sizes:
            for target in targets:
                sized = capacity_sizing.size(shape, accounts, target, costs, Fleet(1), **kwargs)
                r.sizing.append(sized)
                _print(f"sizing {shape.name[:8]} {accounts:,} p99<{target:g}s", sized)
            if r.quick:
                continue
            at = next(s for s in r.sizing if s.shape == shape.name and s.accounts == accounts and s.target == 5.0)
            for name, setting in SETTINGS.items():
                result, n, _ = capacity_sizing.run_fleet(shape, accounts, at.terminals or 1, costs, setting, 32,
                                                         20_000, 30.0)  # fmt: skip
                r.settings.append((shape.name, accounts, at.terminals or 0, name, result.pct(99), result.logins / n))
    if not r.quick:
        for shape in shapes:
            for login in (0.1, 2.0):
                for target in TARGETS:
                    sized = capacity_sizing.size(shape, 50_000, target, r.production_costs(login), Fleet(1))
                    r.sensitivity.append(sized)
                    _print(f"login {login:g}s {shape.name[:8]} p99<{target:g}s", sized)


def _print(what: str, value: object) -> None:
    print(f"  {what}: {value}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
