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

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping BatchHub…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

.venv/bin/celery -A batchhub worker --loglevel INFO --concurrency 2 --hostname "worker@%h" >var/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A batchhub beat --loglevel INFO --pidfile= >var/beat.log 2>&1 &
pids+=($!)
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload >var/web.log 2>&1 &
pids+=($!)

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
wait -n "${pids[@]}" || true
