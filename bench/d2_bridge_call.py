"""D2: what one bare call through the bridge costs, against a classic-mode RPyC ``conn.eval`` on this machine.

Both servers run as separate processes on loopback: ``mt5-worker bridge`` hosting the simulator (token
handshake, allow-list, plain data), and RPyC's own ``rpyc_classic`` server. Timed: ``version()`` through
``BridgeTerminal`` (the smallest port call: no account, a three-item tuple back) and ``conn.eval("(500, 1, 'x')")``;
the median of ``--rounds`` runs of ``--calls`` calls each. Target: bridge / classic <= 1.0.

    .venv/bin/python -m bench.d2_bridge_call [--quick] [--calls 2000] [--rounds 5] [--docs PATH]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import cast

import rpyc

from bench import report
from harness import runs
from harness.processes import BridgeProcess
from mt5_worker.cli.devstack import free_port, wait_for
from mt5_worker.terminal.port import Terminal

TARGET = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--calls", type=int, help="calls per round (default 2000; quick 200)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; quick 2)")
    args = parser.parse_args(argv)
    calls = args.calls or (200 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 5)

    with runs.log_dir("mt5-bench-d2-", args.keep_logs) as logs:
        bridge = BridgeProcess(logs)
        bridge.forked = args.quick  # a full run's bridge starts as production starts it
        bridge.start()
        client = bridge.terminal()
        terminal = cast(Terminal, client)  # its port methods are made from the SDK table
        terminal.initialize()
        port = free_port()
        server = "import sys; from rpyc.cli.rpyc_classic import main; sys.argv[0] = 'rpyc_classic'; main()"
        argv = [sys.executable, "-c", server, "--host", "127.0.0.1", "--port", str(port), "-q"]
        classic = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn = wait_for(lambda: _connect(port), 15, "the rpyc_classic server")
            per_bridge = _per_call(rounds, calls, terminal.version)
            per_classic = _per_call(rounds, calls, lambda: conn.eval("(500, 1, 'x')"))
            conn.close()
        finally:
            classic.terminate()
            classic.wait(10)
            client.close()
            bridge.stop()

    ratio = per_bridge / per_classic
    met = ratio <= TARGET
    print(f"D2 bridge call: {rounds} rounds x {calls} calls on loopback")
    print(f"bridge version() {per_bridge * 1e6:.0f} us per call, classic conn.eval {per_classic * 1e6:.0f} us per call")
    print(report.ratio_line("D2", "bridge call / classic RPyC eval", ratio, f"<= {TARGET:g}", met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        rows = [("`BridgeTerminal.version()` through `mt5-worker bridge`", f"{per_bridge * 1e6:.0f}"),
                ("`conn.eval(...)`, RPyC classic server", f"{per_classic * 1e6:.0f}")]  # fmt: skip
        body = f"""\
## D2: one bare call through the bridge

Median per-call time over {rounds} rounds of {calls} sequential calls, client and server on loopback, each
server its own process.

{report.table(["call", "us per call"], rows)}

**Ratio (bridge / classic RPyC): {ratio:.2f}; target <= {TARGET:g}: {"met" if met else "NOT met"}.**

Command: `{report.command("bench.d2_bridge_call", report.argv())}`; machine: {report.machine()}.
"""
        report.update_section(docs, "D2", body, [report.Verdict("bridge call / classic RPyC eval", f"{ratio:.2f}",
                                                                 f"<= {TARGET:g}", met)])  # fmt: skip
    return 0


def _connect(port: int) -> object | None:
    try:
        return cast(object, rpyc.classic.connect("127.0.0.1", port))
    except OSError:
        return None


def _per_call(rounds: int, calls: int, call: Callable[[], object]) -> float:
    call()  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - started) / calls)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
