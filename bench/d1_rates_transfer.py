"""D1: 100,000 M1 bars end to end, against the bare read in-process plus moving the same bytes through Redis.

- in-process: the bare port call, ``copy_rates_from_pos`` on a ``SimulatedTerminal`` in this process (what the
  terminal itself must do in any design);
- raw transfer: the answer's JSON (the bytes the worker stores) written to Redis and read back (SET + GET);
- end to end: ``MT5Client.rates`` against a real worker (the client asks, the worker reads, makes the columns
  and stores the result, the client decodes it and holds the columns).

Target: end to end <= 2 x (in-process + raw transfer). Medians over ``--rounds``.

    .venv/bin/python -m bench.d1_rates_transfer [--quick] [--bars 100000] [--rounds 5] [--docs PATH]
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.harness import fleet
from harness.accounts import write_accounts
from mt5_worker.client import MT5Client
from mt5_worker.logging import configure_logging
from mt5_worker.manager import MT5ConnectionManager
from mt5_worker.manager.market_data import MarketData
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS, SimulatedTerminal
from mt5_worker.terminal.constants import TIMEFRAME_M1
from mt5_worker.worker import json_codec

TARGET = 2.0
A = DEMO_ACCOUNTS[0]
ACCOUNT = {"password": A.password.get_secret_value(), "server": A.server}


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--bars", type=int, help="M1 bars per request (default 100000; quick 5000)")
    parser.add_argument("--rounds", type=int, help="timed requests of each kind (default 5; quick 2)")
    args = parser.parse_args(argv)
    bars = args.bars or (5_000 if args.quick else 100_000)
    rounds = args.rounds or (2 if args.quick else 5)
    configure_logging("console", "WARNING")  # the in-process manager's call lines would drown the figures
    clock = datetime(2026, 11, 4, 12, tzinfo=UTC).timestamp()  # a fixed instant: the same bars every run
    request: dict[str, Any] = {"symbol": "EURUSD", "timeframe": "M1", "start_pos": 0, "count": bars}

    market = MarketData(MT5ConnectionManager(SimulatedTerminal(clock=lambda: clock), Settings.load(_env_file=None),
                                             sleep=lambda _: None), max_rows=bars)  # fmt: skip
    answer = market.rates(A.login, **request, **ACCOUNT)
    terminal = market.manager.terminal
    local = _median(rounds, lambda: terminal.copy_rates_from_pos("EURUSD", TIMEFRAME_M1, 0, bars))
    payload = json_codec.dumps(answer)  # the bytes the worker stores

    with fleet(args.keep_logs, forked=args.quick) as f:
        transfer = _median(rounds, lambda: _roundtrip(f.r, payload))
        f.start_worker("d1", MT5_MAX_ROWS=bars, MT5_SIMULATOR_ACCOUNTS=write_accounts(f.log_dir / "a.json", [A]))
        client = MT5Client(app=f.client_app(results=True), settings=f.settings())
        client.login(A.login, ACCOUNT["password"], A.server, timeout=60)
        remote = _median(rounds, lambda: client.rates(A.login, **request, timeout=120))
        client.close()

    size_mb = len(payload) / 1e6
    ratio = remote / (local + transfer)
    met = ratio <= TARGET
    print(f"D1 rates transfer: {bars} M1 bars ({size_mb:.1f} MB of JSON), medians of {rounds}")
    print(
        f"in-process {local * 1e3:.0f} ms, raw Redis transfer {transfer * 1e3:.0f} ms, end to end {remote * 1e3:.0f} ms"
    )
    print(report.ratio_line("D1", "end to end / (in-process + raw transfer)", ratio, f"<= {TARGET:g}", met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        chart = docs.parent / "d1_rates_transfer.png"
        report.bar_chart(chart, f"{bars} M1 bars", report.Panel(
            "one request", ["in-process", "raw Redis transfer", "in-process + transfer", "end to end"],
            {"ms": [local * 1e3, transfer * 1e3, (local + transfer) * 1e3, remote * 1e3]}, "milliseconds",
        ))  # fmt: skip
        rows = [("in-process (the bare `copy_rates_from_pos`)", f"{local * 1e3:.0f}"),
                ("raw transfer (SET + GET of the answer's JSON)", f"{transfer * 1e3:.0f}"),
                ("end to end (`MT5Client.rates`, real worker)", f"{remote * 1e3:.0f}")]  # fmt: skip
        body = f"""\
## D1: 100,000 bars end to end

{bars} EURUSD M1 bars ({size_mb:.1f} MB as JSON) by `start_pos` + `count`, medians of {rounds} requests:
in this process, as raw bytes through Redis alone, and end to end through a real worker
(`MT5_MAX_ROWS={bars}`), the client holding the columns.

{report.table(["measure", "ms"], rows)}

![D1]({chart.name})

**Ratio (end to end / (in-process + raw transfer)): {ratio:.2f}; target <= {TARGET:g}: {"met" if met else "NOT met"}.**
The rest of the end-to-end time is the service's: the columns made from the terminal's array, the result
encoded once by the worker and decoded once by the client (Celery's `json`, served by orjson in both:
`mt5_worker.worker.json_codec`; a plain client reads the same plain JSON), and the message and result envelopes.

Command: `{report.command("bench.d1_rates_transfer", report.argv())}`; machine: {report.machine()}.
"""
        verdict = report.Verdict("100k bars, end to end / (in-process + transfer)", f"{ratio:.2f}", f"<= {TARGET:g}",
                                 met)  # fmt: skip
        report.update_section(docs, "D1", body, [verdict])
    return 0


def _roundtrip(r: object, payload: bytes) -> bytes:
    r.set("d1-payload", payload)  # type: ignore[attr-defined]
    data: bytes = r.get("d1-payload")  # type: ignore[attr-defined]
    return data


def _median(rounds: int, work: object) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
