"""``mt5-worker status``: the fleet on one screen, from Redis alone (no task is sent, no worker is asked).

Workers (live or departed, host, backend, terminal state, pool, backlog, the task running, last heartbeat), the
accounts each holds, the market data feeds' leaders and lags, and the trading keys not done. ``--json`` prints
the same as one JSON object; ``--watch`` redraws it in place every few seconds until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import redis
from kombu.utils.url import maybe_sanitize_url

from mt5_worker.fleet.fleet_view import FleetView, WorkerView, read_fleet
from mt5_worker.fleet.sessions import connect
from mt5_worker.settings import Settings
from mt5_worker.streams.feed_view import FeedView, read_feeds

DESCRIPTION = """\
The fleet on one screen, read from Redis alone (no task is sent): each worker (live or departed, host,
backend, terminal state, sessions / pool size, backlog, the task it runs, last heartbeat), the accounts it
holds, the market data feeds' leaders and lags, and the trading idempotency keys not done."""
EPILOG = """\
examples:
  mt5-worker status                  # once
  mt5-worker status --watch          # redraw every 2 s until Ctrl-C
  mt5-worker status --json | jq '.workers[] | {terminal_id, terminal, backlog}'
Exit status 0; 1 when Redis does not answer (--watch keeps trying and says so on screen)."""
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: the redraw in place


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (with --watch: one object per line)")
    parser.add_argument(
        "--watch", nargs="?", type=float, const=2.0, metavar="SECONDS", help="redraw every SECONDS (2) until Ctrl-C"
    )
    parser.add_argument("--limit", type=int, default=20, help="trading keys listed at most (20)")


def main(args: argparse.Namespace) -> int:
    settings = Settings.load()
    client = connect(settings.session_store_url, timeout=2.0)
    where = maybe_sanitize_url(settings.session_store_url)
    if args.watch is not None:
        return watch(lambda: read(client, args.limit), where, max(0.2, args.watch), args.json)
    try:
        screen = read(client, args.limit)
    except redis.RedisError as exc:
        print(f"mt5-worker status: redis unreachable at {where}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(screen.as_dict(), indent=2) if args.json else render(screen, where))
    return 0


@dataclass(frozen=True)
class Screen:
    """One reading: the workers and trading keys (fleet state) and the feeds (streams)."""

    fleet: FleetView
    feeds: list[FeedView]

    def as_dict(self) -> dict[str, Any]:
        return self.fleet.as_dict() | {"feeds": [asdict(f) for f in self.feeds]}


def read(client: redis.Redis, limit: int) -> Screen:
    return Screen(read_fleet(client, limit=limit), read_feeds(client))


def watch(read: Callable[[], Screen], where: str, every: float, as_json: bool, out: TextIO = sys.stdout) -> int:
    try:
        while True:
            try:
                screen = read()
                text = json.dumps(screen.as_dict()) if as_json else render(screen, where)
            except redis.RedisError as exc:
                text = json.dumps({"error": f"redis unreachable: {exc}"}) if as_json else (
                    f"mt5-worker status · {where} · {_clock(time.time())}\n\nredis unreachable: {exc}\n"
                    "(trying again)"
                )  # fmt: skip
            out.write(text + "\n" if as_json else CLEAR + text + "\n")
            out.flush()
            time.sleep(every)
    except KeyboardInterrupt:
        return 0


def render(screen: Screen, where: str) -> str:
    view = screen.fleet
    now = view.at
    live = [w for w in view.workers if w.state == "live"]
    held = sum(_pool_sessions(w) for w in live)
    capacity = sum(w.capacity for w in live)
    backlog = sum(w.status.backlog or 0 for w in live if w.status is not None)
    lines = [
        f"mt5-worker status · {where} · {_clock(now)}",
        f"workers: {len(live)} live, {len(view.workers) - len(live)} departed · sessions {held}/{capacity}"
        f" · backlog {backlog}",
        "",
    ]
    header = ("WORKER", "STATE", "HOST", "BACKEND", "TERMINAL", "SESSIONS", "BACKLOG", "RUNNING", "HEARTBEAT")
    rows: list[tuple[str, ...]] = [header]
    rows += [_worker_row(w, now) for w in view.workers]
    lines += _table(rows) if view.workers else ["no worker has registered in this Redis"]

    lines += ["", "accounts held"]
    holding = [w for w in view.workers if w.accounts]
    for w in holding:
        lines.append(f"  {w.terminal_id}: {', '.join(_account(a, now) for a in w.accounts)}")
    if not holding:
        lines.append("  none")

    if screen.feeds:
        lines += ["", "feeds"]
        for f in screen.feeds:
            leader = f"leader {f.leader} (lease {_age(f.lease_left)})" if f.leader else "NO LEADER"
            updated = f"updated {_age(now - f.updated)} ago" if f.updated else "no status"
            lags = ", ".join(f"{symbol} {_age(lag)}{'' if f.open.get(symbol, True) else ' (closed)'}"
                             for symbol, lag in f.lags.items()) or "no symbols"  # fmt: skip
            lines.append(f"  {f.server}: {leader} · {updated} · lag {lags}")

    k = view.open_keys
    total = k.pending + k.lease_expired + k.unknown
    lines += ["", f"trading keys not done: {total} ({k.pending} pending, {k.lease_expired} past their lease, "
              f"{k.unknown} unknown)"]  # fmt: skip
    if view.open_records:
        rows = [("LOGIN", "STATE", "FOR", "OWNER", "TAKEOVERS", "KEY")]
        for r in view.open_records:
            age = now - r.since if r.state != "pending" else now - r.claimed_at
            rows.append((str(r.login), r.state, _age(age), r.worker, str(r.takeovers), r.key[:40]))
        lines += ["  " + line for line in _table(rows)]
    return "\n".join(lines)


def _worker_row(w: WorkerView, now: float) -> tuple[str, ...]:
    s = w.status
    if s is None:
        return (w.terminal_id, w.state, "?", "?", w.terminal, f"{len(w.sessions)}/{w.capacity}", "?", "?", "?")
    sessions = _pool_sessions(w)
    running = f"{s.running} {_age(now - s.running_since)}" if s.running else "-"
    heartbeat = f"{_age(now - s.heartbeat_at)} ago" if s.heartbeat_at else "-"
    backlog = "-" if s.backlog is None else str(s.backlog)
    return (w.terminal_id, w.state, s.host, s.backend, w.terminal, f"{sessions}/{w.capacity}", backlog, running,
            heartbeat)  # fmt: skip


def _pool_sessions(w: WorkerView) -> int:
    return len(w.accounts)


def _account(account: dict[str, Any], now: float) -> str:
    used = account.get("last_used")
    server = f" {account['server']}" if account.get("server") else ""
    return f"{account['login']}{server} (used {_age(now - used)} ago)" if used else f"{account['login']}{server}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
