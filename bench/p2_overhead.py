"""P2: ``mt5.account_info`` throughput / a no-op task's throughput, same worker and Redis, ``zero`` latency.

With the simulator answering instantly, what is left is our per-request work (validation, the pool, the
fair lock, the session record in Redis, the 28-field result) on top of Celery's own (message, ack, result).
Rounds alternate the two tasks, so drift on a shared machine hits both alike. Target: >= 0.90, by the median
rate ratio and by CPU per request (steadier when other work shares the machine).

    .venv/bin/python -m bench.p2_overhead [--quick] [--requests 1000] [--rounds 7] [--runs 5] [--broker rabbitmq]
        [--docs PATH]

``--broker rabbitmq`` measures the same with the queues on RabbitMQ (results still in Redis): section P2-RabbitMQ.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

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
    parser.add_argument("--runs", type=int, default=1, help="runs of all the rounds; the figure is their median")
    parser.add_argument("--accounts", type=int, default=20, help="accounts, Zipf(1.1) traffic (default 20)")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis",
                        help="the queues' broker (RabbitMQ: MT5_TEST_AMQP_URL; results stay in Redis)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    on_rabbitmq = args.broker == "rabbitmq"
    name = "P2-RabbitMQ" if on_rabbitmq else "P2"
    n = args.requests or (40 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 7)

    runs: list[Figures] = []
    with fleet(args.keep_logs, args.broker, forked=args.quick) as f:
        accts = accounts(args.accounts)
        file = write_accounts(f.log_dir / "accounts.json", specs(accts))
        # Pool as large as the account set: every account stays pooled, nothing is evicted mid-run.
        f.start_worker("p2", MT5_SIMULATOR_ACCOUNTS=file, MT5_CONNECTION_POOL_SIZE=max(20, args.accounts))
        trace = [kwargs_of(a) for a in zipf_trace(accts, n, 1.1, seed=2)]
        f.call(NOOP, queue="mt5")
        for kw in {kw["login"]: kw for kw in trace}.values():  # warm: terminal up, every account pooled
            f.call(INFO, **kw)
        for k in range(args.runs):
            runs.append(one_run(f, trace, rounds))
            print(f"run {k + 1}: {runs[-1].line()}")

    last = runs[-1]
    ratio = statistics.median(r.ratio for r in runs)
    cpu_ratios = [r.cpu_ratio for r in runs if r.cpu_ratio is not None]
    cpu_ratio = statistics.median(cpu_ratios) if cpu_ratios else None
    noop, sized, info = (statistics.median(r.medians[task] for r in runs) for task in TASKS)
    sized_ratio = statistics.median(r.sized_ratio for r in runs)
    print(f"{name} overhead: one worker, zero latency, {args.runs} run(s) of {rounds} rounds x {n} requests per task, "
          f"broker {args.broker}")  # fmt: skip
    for task in TASKS:
        print(f"{task:<18} median {last.medians[task]:8.1f}/s  rounds (last run) " +
              " ".join(f"{x:.1f}" for x in last.rates[task]))  # fmt: skip
    print(f"{'ratio per round':<18} " + " ".join(f"{x:.3f}" for x in last.ratios))
    print(f"noop_info / noop (result size alone): {sized_ratio:.3f}")
    if cpu_ratio is not None:
        print("CPU ms per request (workers + Redis, last run): " + ", ".join(f"{t} {last.cpu_ms[t]:.2f}"
              for t in TASKS if last.cpu_ms[t] is not None) + f"; noop / account_info = {cpu_ratio:.3f}")  # fmt: skip
    # On a shared machine a rate ratio can land anywhere between rounds; CPU per request is steadier. A verdict
    # needs both (the CPU one when it can be measured).
    met = ratio >= TARGET and (cpu_ratio is None or cpu_ratio >= TARGET)
    print(report.ratio_line(name, "account_info / noop throughput", ratio, f">= {TARGET:g}", met))

    docs = report.docs_arg(args.quick, args.docs)
    if docs is not None:
        rows = [(task, f"{last.medians[task]:.1f}", ", ".join(f"{x:.1f}" for x in last.rates[task]),
                 "" if last.cpu_ms[task] is None else f"{last.cpu_ms[task]:.2f}") for task in TASKS]  # fmt: skip
        rows.append(("ratio account_info / noop", f"**{last.ratio:.3f}**", ", ".join(f"{x:.3f}" for x in last.ratios),
                     "" if last.cpu_ratio is None else f"{last.cpu_ratio:.3f} (noop / account_info)"))  # fmt: skip
        run_rows = [(str(k + 1), f"{r.medians[NOOP]:.1f}", f"{r.medians[INFO]:.1f}", f"{r.ratio:.3f}",
                     "" if r.cpu_ratio is None else f"{r.cpu_ratio:.3f}") for k, r in enumerate(runs)]  # fmt: skip
        run_rows.append(("median", f"{noop:.1f}", f"{info:.1f}", f"**{ratio:.3f}**",
                         "" if cpu_ratio is None else f"**{cpu_ratio:.3f}**"))  # fmt: skip
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

{len(runs)} run(s) one after another on the same worker; each run's ratios are the medians of its rounds, and the
figure is the median of the runs' (the no-op's rate says how quiet the machine was):

{report.table(["run", "bench.noop req/s", "mt5.account_info req/s", "ratio by rate", "ratio by CPU"], run_rows)}

The last run's rounds:

{report.table(["task", "median req/s", "per round", "CPU ms per request (median)"], rows)}

**Ratio (account_info / noop): {ratio:.3f}, by CPU {"n/a" if cpu_ratio is None else f"{cpu_ratio:.3f}"}; target
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
                    f"{ratio:.3f}" + ("" if cpu_ratio is None else f" (CPU {cpu_ratio:.3f})"),
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


@dataclass
class Figures:
    """One run: each task's rate and CPU per request in every round, and the run's medians."""

    rates: dict[str, list[float]]
    cpu: dict[str, list[float]]  # CPU ms per request, when measurable

    @property
    def medians(self) -> dict[str, float]:
        return {task: statistics.median(self.rates[task]) for task in TASKS}

    @property
    def cpu_ms(self) -> dict[str, float | None]:
        return {task: statistics.median(self.cpu[task]) if self.cpu[task] else None for task in TASKS}

    @property
    def ratios(self) -> list[float]:
        return [i / n for i, n in zip(self.rates[INFO], self.rates[NOOP], strict=True)]

    @property
    def ratio(self) -> float:
        # Each round's runs are adjacent in time: the median of per-round ratios shrugs off a noisy round.
        return statistics.median(self.ratios)

    @property
    def sized_ratio(self) -> float:
        return statistics.median(s / n for s, n in zip(self.rates[SIZED], self.rates[NOOP], strict=True))

    @property
    def cpu_ratio(self) -> float | None:
        """noop's CPU per request / account_info's: what a CPU-bound worker could reach."""
        if not self.cpu[INFO] or len(self.cpu[INFO]) != len(self.cpu[NOOP]):
            return None
        return statistics.median(n / i for n, i in zip(self.cpu[NOOP], self.cpu[INFO], strict=True))

    def line(self) -> str:
        cpu = "" if self.cpu_ratio is None else f", by CPU {self.cpu_ratio:.3f}"
        return f"noop {self.medians[NOOP]:.1f}/s, account_info {self.medians[INFO]:.1f}/s, ratio {self.ratio:.3f}{cpu}"


def one_run(f: Fleet, trace: list[dict[str, object]], rounds: int) -> Figures:
    """``rounds`` rounds, each task once per round, the order reversed every other round."""
    figures = Figures({task: [] for task in TASKS}, {task: [] for task in TASKS})
    for r in range(rounds):
        for task in TASKS if r % 2 == 0 else TASKS[::-1]:
            rate_, cpu_ms = measure(f, task, trace)
            figures.rates[task].append(rate_)
            if cpu_ms is not None:
                figures.cpu[task].append(cpu_ms)
    return figures


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
