#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and Chromium are there and running for the test suite.
# Starts what is installed, installs (Debian packages) what is missing. Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_UPDATED=0

apt_install() {
  if [ "$APT_UPDATED" = "0" ]; then
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_up; then pg_password_ensure; return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "ensure-services: installing PostgreSQL"
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure-services: starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "ensure-services: PostgreSQL did not start" >&2; exit 1; }
  pg_password_ensure
}

pg_password_ensure() {
  # A stock cluster authenticates TCP clients by password: give the postgres role the one the tests use.
  if PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc "SELECT 1" >/dev/null 2>&1; then return; fi
  echo "ensure-services: setting the postgres role's password for the tests"
  if [ "$(id -u)" = "0" ]; then
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
  else
    sudo -u postgres psql -q -c "ALTER USER postgres PASSWORD 'postgres'"
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_up; then return; fi
  if ! command -v redis-server >/dev/null; then
    echo "ensure-services: installing Redis"
    apt_install redis-server
  fi
  echo "ensure-services: starting Redis"
  mkdir -p /tmp/batchhub-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/batchhub-redis --logfile /tmp/batchhub-redis/redis.log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  redis_up || { echo "ensure-services: Redis did not start" >&2; exit 1; }
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  echo "ensure-services: installing Chromium (Debian package)"
  apt_install chromium
}

for what in "$@"; do
  case "$what" in
    postgres) ensure_postgres ;;
    redis) ensure_redis ;;
    chromium) ensure_chromium ;;
    wrk) command -v wrk >/dev/null || apt_install wrk ;;
    python-venv) python3 -c "import ensurepip" 2>/dev/null || apt_install python3-venv ;;
    *) echo "ensure-services: unknown service $what" >&2; exit 2 ;;
  esac
done
