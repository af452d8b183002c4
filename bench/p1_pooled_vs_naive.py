"""P1: the pooled worker against a naive one that initializes, logs in and shuts down for every task.

One worker process serves both sides in one run, on the simulator's ``realistic`` profile (initialize 2 s,
login 0.5 s, other calls 2 ms): ``mt5.account_info`` (the pooled manager) and ``bench.naive_account_info``
(a fresh terminal per task), on repeated-account traffic. A third row sends the pooled worker a different
account every time, the case where pooling saves only the ``initialize()``. Target: pooled >= 50x naive.

    .venv/bin/python -m bench.p1_pooled_vs_naive [--quick] [--pooled 300] [--naive 5] [--docs PATH]
"""

from __future__ import annotations

from bench import report
from bench.harness import Fleet, accounts, fleet, kwargs_of, rate, scaled, specs
from harness.accounts import write_accounts
from mt5_worker.simulator.specs import LATENCY_PROFILES

TARGET = 50.0


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)  # --quick: also realistic latencies x0.01
    parser.add_argument("--pooled", type=int, help="pooled requests, all for one account (default 300; quick 30)")
    parser.add_argument("--naive", type=int, help="naive requests (default 5; quick 4)")
    parser.add_argument("--switching", type=int, help="pooled requests rotating over 8 accounts (default 17)")
    args = parser.parse_args(argv)
    quick = args.quick
    pooled_n = args.pooled or (30 if quick else 300)
    naive_n = args.naive or (4 if quick else 5)
    switching_n = args.switching or (9 if quick else 17)
    factor = 0.01 if quick else 1.0
    latency = scaled(LATENCY_PROFILES["realistic"], factor)

    with fleet(args.keep_logs, forked=args.quick) as f:
        accts = accounts(8)
        file = write_accounts(f.log_dir / "accounts.json", specs(accts))
        # Strict FIFO (no batching): P1 measures the pool, not account-batched serving.
        f.start_worker("p1", MT5_SIMULATOR_LATENCY=latency, MT5_SIMULATOR_ACCOUNTS=file, MT5_BATCH_WINDOW=1)
        hot = kwargs_of(accts[0])
        f.call("mt5.account_info", timeout=120, **hot)  # warm: the terminal is initialized, the account pooled
        rows = [
            ("pooled, same account", measure(f, "mt5.account_info", [hot] * pooled_n)),
            # Starts with accts[1]: every request switches account (one login() each).
            ("pooled, new account each time",
             measure(f, "mt5.account_info", [kwargs_of(accts[(i + 1) % 8]) for i in range(switching_n)])),
            ("naive, same account", measure(f, "bench.naive_account_info", [hot] * naive_n)),
        ]  # fmt: skip

    naive_rate = rows[-1][1][1]
    ratio = rows[0][1][1] / naive_rate
    shown = ", ".join(f"{k} {ms(latency[k])}" for k in ("initialize", "login", "account_info"))
    print(f"P1 pooled vs naive, one worker, latency {'realistic x0.01' if quick else 'realistic'} ({shown})")
    print(f"{'variant':<32} {'requests':>8} {'req/s':>9} {'vs naive':>9}")
    for name, (n, r) in rows:
        print(f"{name:<32} {n:>8} {r:>9.2f} {r / naive_rate:>8.1f}x")
    line = report.ratio_line("P1", "pooled / naive throughput", ratio, f">= {TARGET:g}x", ratio >= TARGET)
    print(line)

    docs = report.docs_arg(quick, args.docs)
    if docs is not None:
        init, login = latency["initialize"], latency["login"]
        verdict = "met" if ratio >= TARGET else "NOT met"
        chart = docs.parent / "p1_pooled_vs_naive.png"
        panel = report.Panel(
            "one worker, realistic latency",
            [name for name, _ in rows],
            {"requests/s": [r for _, (_, r) in rows]},
            "requests per second (log scale)",
            log=True,
        )
        report.bar_chart(chart, "P1: pooled vs naive worker", panel)  # fmt: skip
        body = f"""\
## P1: pooled worker vs naive worker

One worker process, `MT5_SIMULATOR_LATENCY={"realistic x0.01" if quick else "realistic"}` ({shown}),
`MT5_BATCH_WINDOW=1` (strict FIFO: this measures the pool alone). Each side gets a backlog of requests; its
rate is (completions - 1) / (last - first completion). *naive* is `bench.naive_account_info`: a new
terminal per task, `initialize()`, `login()`, `account_info()`, `shutdown()`. *pooled* is `mt5.account_info`.

{
            report.table(
                ["variant", "requests", "req/s", "vs naive"],
                [(n, c, f"{r:.2f}", f"{r / naive_rate:.1f}x") for n, (c, r) in rows],
            )
        }

**Ratio (pooled, same account / naive): {ratio:.0f}x; target >= {TARGET:g}x: {verdict}.**

The naive worker pays initialize + login ({ms(init + login)}) per request; the pooled one pays them once,
then only the {ms(latency["account_info"])} `account_info()` plus Celery's own per-task cost, which is what
bounds the ratio. The middle row is the honest caveat: when every request is for a different account than the
last, the pool still pays a {ms(login)} `login()` per request and the gain shrinks towards (initialize + login)
/ login = {(init + login) / login:.0f}x. Keeping consecutive requests on the same account is the job of
affinity routing and batched serving (P3).

![P1 chart]({chart.name})

Command: `{report.command("bench.p1_pooled_vs_naive", report.argv())}`; machine: {report.machine()}.
"""
        report.update_section(
            docs,
            "P1",
            body,
            [report.Verdict("throughput, pooled / naive worker", f"{ratio:.0f}x", f">= {TARGET:g}x", ratio >= TARGET)],
        )
    return 0


def ms(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def measure(f: Fleet, task: str, requests: list[dict[str, object]]) -> tuple[int, float]:
    """A backlog of ``requests``; the worker's completion rate over it."""
    ids = f.publish(task, requests, queue="mt5" if task.startswith("bench.") else None)
    return len(requests), rate(f.results(ids, timeout=60 + 5 * len(requests)))


if __name__ == "__main__":
    raise SystemExit(main())
