#!/usr/bin/env bash
# `make run`: web server, Celery worker and beat on the embedded defaults; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
mkdir -p var

$PY manage.py migrate --noinput -v 0
if ! $PY manage.py demo_credentials --json >/dev/null 2>&1; then
  echo "Seeding the demo world (first run only; ${DEMO_PROFILES:-50000} profiles)…"
  $PY manage.py seed_demo --profiles "${DEMO_PROFILES:-50000}"
fi

# Each process runs under a small supervisor that starts it again if it exits (a crash, an outage that beat
# or the worker did not survive). On Ctrl-C or TERM every supervisor stops its process: TERM, then KILL
# after 5 s (a worker's warm shutdown may wait for a long task; tasks are acknowledged late, so a killed
# one is delivered again), so BatchHub is down within 10 s.
supervisors=()
supervise() {  # supervise NAME LOGFILE COMMAND...
  local name=$1 log=$2; shift 2
  (
    child=
    stop_child() {
      [[ -n "$child" ]] || exit 0
      kill -TERM "$child" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.1; done
      pkill -KILL -P "$child" 2>/dev/null || true
      kill -KILL "$child" 2>/dev/null || true
      exit 0
    }
    trap stop_child INT TERM
    while true; do
      "$@" >>"$log" 2>&1 &
      child=$!
      wait "$child" && rc=0 || rc=$?
      echo "$(date +%T) ${name} exited (status ${rc}); starting it again in 2 s" | tee -a "$log" >&2
      sleep 2
    done
  ) &
  supervisors+=($!)
}

stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping BatchHub…"
  for pid in "${supervisors[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

: >var/worker.log; : >var/beat.log; : >var/web.log
supervise worker var/worker.log .venv/bin/celery -A batchhub worker --loglevel INFO --concurrency 2 --hostname "worker@%h"
supervise beat var/beat.log .venv/bin/celery -A batchhub beat --loglevel INFO --pidfile=
supervise web var/web.log $PY manage.py runserver "127.0.0.1:${PORT}" --noreload

$PY - "$PORT" <<'PYEOF'
import sys, time, urllib.request
for _ in range(120):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("the web server did not answer on /healthz; see var/web.log")
PYEOF

echo
echo "BatchHub is running at http://127.0.0.1:${PORT}/  (worker and beat logs in var/)"
echo
$PY manage.py demo_credentials
echo
echo "Press Ctrl-C to stop."
wait
