"""``mt5-worker call``: enqueue one mt5 task from the shell and print its JSON result.

The password never goes on the command line (process listings and shell history show argv): it is read
from an environment variable named by ``--password-env``, from stdin, or from a prompt. It is never printed,
not even inside an error message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from mt5_worker.errors import MT5Error, SettingsError

TASKS = {
    "account_info": "the account's AccountInfo fields (logs in first if the account has no session yet)",
    "login": "log an account in (or switch to its pooled session) and print the session",
    "health": "one worker's terminal state: initialized, connected, busy, version",
    "pool_stats": "one worker's session pool: sessions, SDK logins, reuses, evictions",
}

DESCRIPTION = "Enqueue one mt5 task, wait for it, print its result as JSON. TASK is one of:\n" + "\n".join(
    f"  {name:<13} {text}" for name, text in TASKS.items()
)

EXIT_FAILED = 1  # the task ran and failed: the typed MT5 error is printed
EXIT_USAGE = 2  # bad arguments or settings: nothing was sent
EXIT_NO_ANSWER = 3  # no result within --timeout, or the broker is unreachable

EPILOG = """\
examples:
  MT5_PASSWORD=... mt5-worker call account_info --login 10000001 --server MetaQuotes-Demo --password-env MT5_PASSWORD
  mt5-worker call account_info --login 10000001          # an account a worker already holds a session for
  mt5-worker call login --login 10000001 --server MetaQuotes-Demo --password-prompt
  pass show mt5/10000001 | mt5-worker call login --login 10000001 --server MetaQuotes-Demo --password-stdin
  mt5-worker call health
  mt5-worker call pool_stats --worker celery@host-1 --timeout 10

The result is printed as JSON on stdout. On failure the error goes to stdout as JSON
({"error": {"type", "code", "message", "attempts"}}) and to stderr as one line.
exit status: 0 done, 1 the task failed (MT5 error), 2 bad arguments or settings, 3 no answer in time.
Broker and Redis come from REDIS_URL etc. (the environment or .env), as for the workers."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=list(TASKS), metavar="TASK", help=", ".join(TASKS) + " (see above)")
    parser.add_argument("--login", type=int, help="account number (account_info, login)")
    parser.add_argument("--server", help="trade server name, e.g. MetaQuotes-Demo (account_info, login)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="NAME", help="read the password from environment variable NAME")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    secret.add_argument("--password-prompt", action="store_true", help="ask for the password (not echoed)")
    parser.add_argument(
        "--worker",
        metavar="TERMINAL_ID",
        help="health/pool_stats of this worker: its terminal id, by default its Celery nodename (default: any)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the result (default 60)")


def run(args: argparse.Namespace) -> int:
    try:
        password = _password(args)
        _check(args, password)
    except ValueError as exc:
        print(f"mt5-worker call: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = _call(args, password)
    except MT5Error as exc:
        return _fail(type(exc).__name__, exc.code, exc.message, exc.attempts, password, EXIT_FAILED)
    except SettingsError:
        raise  # the caller names the variable and exits 2
    except Exception as exc:  # the task's own exception (time limit, ...) or no answer: say which, no traceback
        from celery.exceptions import TimeoutError as ResultTimeout
        from kombu.exceptions import OperationalError

        if isinstance(exc, ResultTimeout | OperationalError):
            what = "no result" if isinstance(exc, ResultTimeout) else "cannot reach the broker"
            message = f"{what} within {args.timeout:g} s: are Redis and a worker running (mt5-worker worker)?"
            return _fail(type(exc).__name__, None, message, None, password, EXIT_NO_ANSWER)
        return _fail(type(exc).__name__, None, str(exc), None, password, EXIT_FAILED)
    print(_scrub(json.dumps(result, indent=2, default=str), password))
    return 0


def _password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise ValueError(f"environment variable {args.password_env} (--password-env) is not set")
        return value
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n") or None
    if args.password_prompt:
        return getpass.getpass(f"password for {args.login}: ") or None
    return None


def _check(args: argparse.Namespace, password: str | None) -> None:
    account_task = args.task in ("account_info", "login")
    if account_task and args.login is None:
        raise ValueError(f"{args.task} needs --login")
    if args.task == "login" and (args.server is None or password is None):
        raise ValueError("login needs --server and a password (--password-env, --password-stdin or --password-prompt)")
    if not account_task and (args.login is not None or password is not None):
        raise ValueError(f"{args.task} takes no account: use --worker to choose a worker")
    if account_task and args.worker:
        raise ValueError("--worker is for health and pool_stats; accounts are routed to their worker")


def _call(args: argparse.Namespace, password: str | None) -> Any:
    from mt5_worker.client.threaded import MT5Client  # imports Celery: keep `mt5-worker --help` fast

    client = MT5Client()
    try:
        if args.task == "account_info":
            pending = client.submit_account_info(args.login, args.server, password, expires=args.timeout)
        elif args.task == "login":
            assert password is not None  # _check() requires one
            pending = client.submit_login(args.login, password, args.server, expires=args.timeout)
        elif args.task == "health":
            pending = client.submit_health(args.worker, expires=args.timeout)
        else:
            pending = client.submit_pool_stats(args.worker, expires=args.timeout)
        try:
            return pending.get(timeout=args.timeout)
        finally:
            # Celery keeps a result it timed out on as pending until interpreter exit, when its __del__ can no
            # longer reach the backend and prints a traceback; let it go now.
            pending.backend.remove_pending_result(pending)
    finally:
        client.close()


def _fail(kind: str, code: int | None, message: str, attempts: int | None, password: str | None, status: int) -> int:
    error = {"type": kind, "code": code, "message": message, "attempts": attempts}
    print(_scrub(json.dumps({"error": error}, indent=2), password))
    detail = f"{kind} {code}: {message}" if code is not None else f"{kind}: {message}"
    print(_scrub(f"mt5-worker call: {detail}", password), file=sys.stderr)
    return status


def _scrub(text: str, password: str | None) -> str:
    """Belt and braces: results and errors never hold the password, but make sure none is printed."""
    return text.replace(password, "**********") if password and len(password) >= 4 else text  # "a" would mangle JSON
