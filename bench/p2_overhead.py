"""P2: ``mt5.account_info`` throughput / a no-op task's throughput, same worker and Redis, ``zero`` latency.

With the simulator answering instantly, what is left is our per-request work (validation, the pool, the
fair lock, the session record in Redis, the 28-field result) on top of Celery's own (message, ack, result).
Rounds alternate the two tasks, so drift on a shared machine hits both alike. Target: >= 0.90, by the median
rate ratio and by CPU per request (steadier when other work shares the machine).

    .venv/bin/python -m bench.p2_overhead [--quick] [--requests 1000] [--rounds 7] [--broker rabbitmq] [--docs PATH]

``--broker rabbitmq`` measures the same with the queues on RabbitMQ (results still in Redis): section P2-RabbitMQ.
"""

from __future__ import annotations

import statistics
import time

from bench import report
from bench.harness import Fleet, accounts, done_at, fleet, kwargs_of, rate, specs, zipf_trace
from harness.accounts import write_accounts

TARGET = 0.90
NOOP, SIZED, INFO = "bench.noop", "bench.noop_info", "mt5.account_info"
TASKS = (NOOP, SIZED, INFO)


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--requests", type=int, help="requests per task per round (default 1000; quick 40)")
    parser.add_argument("--rounds", type=int, help="rounds, each task once per round (default 7; quick 2)")
    parser.add_argument("--accounts", type=int, default=20, help="accounts, Zipf(1.1) traffic (default 20)")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis",
                        help="the queues' broker (RabbitMQ: MT5_TEST_AMQP_URL; results stay in Redis)")  # fmt: skip
    args = parser.parse_args(argv)
    on_rabbitmq = args.broker == "rabbitmq"
    name = "P2-RabbitMQ" if on_rabbitmq else "P2"
    n = args.requests or (40 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 7)

    rates: dict[str, list[float]] = {task: [] for task in TASKS}
    cpu: dict[str, list[float]] = {task: [] for task in TASKS}  # CPU ms per request, when measurable
    with fleet(args.keep_logs, args.broker) as f:
        accts = accounts(args.accounts)
        file = write_accounts(f.log_dir / "accounts.json", specs(accts))
        # Pool as large as the account set: every account stays pooled, nothing is evicted mid-run.
        f.start_worker("p2", MT5_SIMULATOR_ACCOUNTS=file, MT5_CONNECTION_POOL_SIZE=max(20, args.accounts))
        trace = [kwargs_of(a) for a in zipf_trace(accts, n, 1.1, seed=2)]
        f.call(NOOP, queue="mt5")
        for kw in {kw["login"]: kw for kw in trace}.values():  # warm: terminal up, every account pooled
            f.call(INFO, **kw)
        for r in range(rounds):
            for task in TASKS if r % 2 == 0 else TASKS[::-1]:
                rate_, cpu_ms = measure(f, task, trace)
                rates[task].append(rate_)
                if cpu_ms is not None:
                    cpu[task].append(cpu_ms)

    noop, sized, info = (statistics.median(rates[task]) for task in TASKS)
    # Each round's runs are adjacent in time: the median of per-round ratios shrugs off a noisy round.
    ratios = [i / n for i, n in zip(rates[INFO], rates[NOOP], strict=True)]
    ratio = statistics.median(ratios)
    sized_ratio = statistics.median(s / n for s, n in zip(rates[SIZED], rates[NOOP], strict=True))
    # The same comparison by CPU: noop's CPU per request / account_info's (what a CPU-bound worker could reach).
    cpu_ratio = statistics.median(n / i for n, i in zip(cpu[NOOP], cpu[INFO], strict=True)) if cpu[INFO] else None
    cpu_ms = {task: statistics.median(cpu[task]) if cpu[task] else None for task in TASKS}
    print(f"{name} overhead: one worker, zero latency, {rounds} rounds x {n} requests per task, broker {args.broker}")
    for task in TASKS:
        print(f"{task:<18} median {statistics.median(rates[task]):8.1f}/s  rounds " +
              " ".join(f"{x:.1f}" for x in rates[task]))  # fmt: skip
    print(f"{'ratio per round':<18} " + " ".join(f"{x:.3f}" for x in ratios))
    print(f"noop_info / noop (result size alone): {sized_ratio:.3f}")
    if cpu_ratio is not None:
        print("CPU ms per request (workers + Redis): " + ", ".join(f"{t} {cpu_ms[t]:.2f}" for t in TASKS) +
              f"; noop / account_info = {cpu_ratio:.3f}")  # fmt: skip
    # On a shared machine a rate ratio can land anywhere between rounds; CPU per request is steadier. A verdict
    # needs both (the CPU one when it can be measured).
    met = ratio >= TARGET and (cpu_ratio is None or cpu_ratio >= TARGET)
    print(report.ratio_line(name, "account_info / noop throughput", ratio, f">= {TARGET:g}", met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        rows = [(task, f"{statistics.median(rates[task]):.1f}", ", ".join(f"{x:.1f}" for x in rates[task]),
                 "" if cpu_ms[task] is None else f"{cpu_ms[task]:.2f}") for task in TASKS]  # fmt: skip
        rows.append(("ratio account_info / noop", f"**{ratio:.3f}**", ", ".join(f"{x:.3f}" for x in ratios),
                     "" if cpu_ratio is None else f"{cpu_ratio:.3f} (noop / account_info)"))  # fmt: skip
        title = (
            "P2 on RabbitMQ: the same, with the queues on RabbitMQ"
            if on_rabbitmq
            else ("P2: what our bookkeeping costs over Celery's floor")
        )
        broker_note = RABBITMQ_NOTE + "\n" if on_rabbitmq else ""
        body = f"""\
## {title}

One worker, `MT5_SIMULATOR_LATENCY=zero`, default settings otherwise (batched serving as shipped), pool
holding all {args.accounts} accounts. `bench.noop` takes the same arguments as `mt5.account_info` and does
nothing; `bench.noop_info` (a diagnostic, not part of the target) also returns a 28-field result like
`mt5.account_info`'s. Each gets {rounds} rounds of {n} requests (Zipf(1.1) over the {args.accounts} accounts),
the order reversed every other round. Rate per run = (completions - 1) / (last - first completion), over the
completions after the client finished publishing (so it does not compete for the CPU); the ratio is the median
of the per-round ratios.
`mt5.account_info` is sent as a client sends it (no queue: affinity-routed to the worker's own queue),
the bench tasks to the shared `mt5` queue; the worker consumes both. CPU ms per request = CPU time of the
worker's processes (prefork parent and child, from `/proc`) and of Redis (`INFO cpu`) over a run, divided by
its requests: steadier than rates when other work shares the machine, since that stretches the wall clock
but not the work.

{report.table(["task", "median req/s", "per round", "CPU ms per request (median)"], rows)}

**Ratio (account_info / noop): {ratio:.2f}, by CPU {"n/a" if cpu_ratio is None else f"{cpu_ratio:.2f}"}; target
>= {TARGET:g} by both: {"met" if met else "NOT met"}.**

The difference per request is 1/{info:.0f} - 1/{noop:.0f} s = {(1 / info - 1 / noop) * 1e3:.2f} ms. Of that,
carrying a 28-field result instead of `null` (serialising it, storing it in the result backend, the events)
costs 1/{sized:.0f} - 1/{noop:.0f} s = {(1 / sized - 1 / noop) * 1e3:.2f} ms (`bench.noop_info` / `bench.noop`
= {sized_ratio:.3f}); the rest, {(1 / info - 1 / sized) * 1e3:.2f} ms, is the task's own work: opening the
credential, argument validation, the manager's lock and pool, the simulator call, one pipelined Redis write of
the session's last use, and batched serving's strategy in the worker's main process.

{broker_note}Command: `{report.command("bench.p2_overhead", report.argv())}`; machine: {report.machine()}.
"""
        measure_name = "throughput, mt5.account_info / no-op task" + (" (RabbitMQ broker)" if on_rabbitmq else "")
        report.update_section(
            docs,
            name,
            body,
            [
                report.Verdict(
                    measure_name,
                    f"{ratio:.2f}" + ("" if cpu_ratio is None else f" (CPU {cpu_ratio:.2f})"),
                    f">= {TARGET:.2f} (both)",
                    met,
                )
            ],
        )
    return 0


RABBITMQ_NOTE = """\
With RabbitMQ the queues, and the message each task's acknowledgement answers, are on RabbitMQ (durable quorum
queues, publisher confirms on every publish, events included); results and the session records stay in Redis.
CPU ms per request counts the worker's processes and Redis, not RabbitMQ (a server other work shares).
"""


def measure(f: Fleet, task: str, trace: list[dict[str, object]]) -> tuple[float, float | None]:
    """Rate over the completions after the last message was published (this client then only polls), and
    the CPU the worker and Redis spent per request over the whole run."""
    cpu_before = f.cpu_seconds()
    ids = f.publish(task, trace, queue=None if task == INFO else "mt5")
    published = time.time()
    metas = f.results(ids, timeout=120 + len(trace) / 10)
    cpu_after = f.cpu_seconds()
    cpu_ms = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) * 1000 / len(trace)
    # Under a short run on a busy machine the worker can finish before the client stops publishing: then the
    # rate is taken over every completion rather than none.
    late = sum(1 for m in metas if done_at(m) >= published)
    return rate(metas, after=published if late >= max(2, len(metas) // 4) else 0.0), cpu_ms


if __name__ == "__main__":
    raise SystemExit(main())
