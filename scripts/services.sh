#!/usr/bin/env bash
# Make Parley's test services available on this machine: Redis (6379), PostgreSQL (5432),
# RabbitMQ (5672) and FerretDB (MongoDB wire protocol, 27017, backed by PostgreSQL).
# Only services that are down are started (installing a missing package with apt-get if needed),
# so running it again is cheap. Used by `npm test` (and `npm run services`) and by `.ci/run`.
# Env: PARLEY_CACHE_DIR (default ~/.cache/parley) holds the FerretDB binary, its log and pid file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PARLEY_CACHE_DIR:-$HOME/.cache/parley}"
FERRET_SRC="$ROOT/scripts/ferretdb"
FERRET_BIN="${FERRET_BIN:-$CACHE/ferretdb-v1.24.2}"
FERRET_LOG="$CACHE/ferretdb.log"
FERRET_PID="$CACHE/ferretdb.pid"
FERRET_DB=parley_ferretdb
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

say() { printf '%-10s %s\n' "$1" "$2"; }
die() { echo "services.sh: $*" >&2; exit 1; }

# port_open HOST PORT: true if something accepts a TCP connection there.
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# wait_port HOST PORT SECONDS: poll until HOST:PORT accepts connections, false on timeout.
wait_port() {
  local deadline=$((SECONDS + $3))
  until port_open "$1" "$2"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# need CMD PKG: install PKG with apt-get when CMD is missing.
APT_UPDATED=
need() {
  command -v "$1" >/dev/null && return 0
  echo "services.sh: $1 not found, installing $2" >&2
  [[ -n $APT_UPDATED ]] || { apt-get update -qq </dev/null; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" </dev/null >/dev/null
}

# --- Redis ---------------------------------------------------------------------------------
redis_ok() { [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }
if command -v redis-cli >/dev/null && redis_ok; then
  say redis up
else
  need redis-server redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
  wait_port 127.0.0.1 6379 15 && redis_ok ||
    die "redis did not come up on 127.0.0.1:6379, see /var/log/redis/ci.log"
  say redis started
fi

# --- PostgreSQL ------------------------------------------------------------------------------
pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if command -v pg_isready >/dev/null && pg_ok; then
  say postgres up
else
  need pg_ctlcluster postgresql
  pg_version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  [[ -n $pg_version ]] || die "no PostgreSQL cluster under /etc/postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  for _ in $(seq 60); do pg_ok && break; sleep 0.5; done
  pg_ok || die "postgres did not come up on 127.0.0.1:5432, see /var/log/postgresql/postgresql-$pg_version-main.log"
  say postgres started
fi

# --- RabbitMQ --------------------------------------------------------------------------------
if port_open 127.0.0.1 5672; then
  say rabbitmq up
else
  need rabbitmq-server rabbitmq-server
  rabbitmq-server -detached >/dev/null 2>&1 || true
  timeout 90 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
  wait_port 127.0.0.1 5672 60 || die "rabbitmq did not come up on 127.0.0.1:5672, see /var/log/rabbitmq/"
  say rabbitmq started
fi

# --- FerretDB --------------------------------------------------------------------------------
psql_pg() { psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"; }
db_exists="$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = '$FERRET_DB'")"
if [[ -z $db_exists ]]; then
  psql_pg -c "CREATE DATABASE $FERRET_DB TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C' ENCODING 'UTF8'"
fi

# ferretdb_answers: the wire protocol answers a ping within 5 s. FerretDB v1 can deadlock when its
# PostgreSQL pool is exhausted (a metadata write lock waits for a connection that readers hold while they
# wait for the lock): then the port is open but nothing answers, and only a restart helps.
ferretdb_answers() {
  [[ -d $ROOT/node_modules/mongodb ]] || return 0
  (cd "$ROOT" && timeout 8 node -e "
    const { MongoClient } = require('mongodb');
    const c = new MongoClient('mongodb://127.0.0.1:27017', { serverSelectionTimeoutMS: 5000, socketTimeoutMS: 5000 });
    c.db('admin').command({ ping: 1 }).then(() => process.exit(0), () => process.exit(1));
  " >/dev/null 2>&1)
}

if port_open 127.0.0.1 27017 && ! ferretdb_answers; then
  echo "services.sh: ferretdb on 27017 does not answer a ping; restarting it" >&2
  pid=$(ss -ltnpH 'sport = :27017' 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 20); do port_open 127.0.0.1 27017 || break; sleep 0.25; done
fi

if port_open 127.0.0.1 27017; then
  say ferretdb up
else
  mkdir -p "$CACHE" "$(dirname "$FERRET_BIN")"
  if [[ ! -x $FERRET_BIN || $FERRET_SRC/main.go -nt $FERRET_BIN || $FERRET_SRC/go.sum -nt $FERRET_BIN ]]; then
    echo "services.sh: building FerretDB into $FERRET_BIN" >&2
    (cd "$FERRET_SRC" && GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" go build -o "$FERRET_BIN" .) ||
      die "building FerretDB from $FERRET_SRC failed"
  fi
  setsid nohup "$FERRET_BIN" --listen 127.0.0.1:27017 \
    --postgresql-url "postgres://postgres@127.0.0.1:5432/$FERRET_DB?pool_max_conns=80" </dev/null >>"$FERRET_LOG" 2>&1 &
  echo $! >"$FERRET_PID"
  wait_port 127.0.0.1 27017 30 || die "ferretdb did not come up on 127.0.0.1:27017, see $FERRET_LOG"
  say ferretdb started
fi
