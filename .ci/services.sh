# shellcheck shell=bash
# .ci/services.sh -- throwaway PostgreSQL 15 + Redis for tests, on loopback only.
#
# Used by .ci/run, and by developers locally:
#
#     source .ci/services.sh
#     start_postgres      # exports DATABASE_URL
#     start_redis         # exports CELERY_BROKER_URL and REDIS_URL
#     ...
#     stop_services       # stops both (add --only-started to keep reused ones)
#
# or without sourcing:  bash .ci/services.sh start|stop|status|env
#
# Everything lives under $SERVICES_STATE_DIR (default /tmp/servicedesk-services):
#   pgdata/  PostgreSQL data dir (fresh initdb whenever the server is not running)
#   pgsock/  PostgreSQL unix socket dir
#   postgres.log, postgres.port, redis/, redis.log, redis.pid, redis.port, env
#
# Idempotent: if the server from an earlier start_* is still running and answers,
# it is reused (same port); if it is dead or unhealthy it is stopped and started
# again from scratch. A port held by some other program is never touched: the
# next free port is used instead.
#
# Knobs (environment): SERVICES_STATE_DIR, PG_BIN (default: PostgreSQL 15 bin dir),
# PG_PORT (preferred port, default 5432), REDIS_PORT (default 6379),
# PG_APP_USER / PG_APP_PASSWORD / PG_APP_DB (default servicedesk for all three).
#
# Functions never `exit` (safe to source into an interactive shell); they
# `return 1` on failure and do not change the caller's shell options.

: "${SERVICES_STATE_DIR:=/tmp/servicedesk-services}"
: "${PG_APP_USER:=servicedesk}"
: "${PG_APP_PASSWORD:=servicedesk}"
: "${PG_APP_DB:=servicedesk}"

_svc_log() { printf '[services] %s\n' "$*" >&2; }
_svc_err() { printf '[services] ERROR: %s\n' "$*" >&2; }

# --- helpers -----------------------------------------------------------------

_svc_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        printf '%s\n' "$PG_BIN"
    elif [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        printf '%s\n' /usr/lib/postgresql/15/bin
    else
        # Fall back to the newest installed major version.
        local d
        d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        [[ -n "$d" ]] || d=$(pg_config --bindir 2>/dev/null)
        printf '%s\n' "$d"
    fi
}

# Is something accepting TCP connections on 127.0.0.1:$1 (or listening on $1 at all)?
_svc_port_busy() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# First free port at or above $1.
_svc_free_port() {
    local port=$1 last=$(( $1 + 100 ))
    while (( port < last )); do
        if ! _svc_port_busy "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        port=$(( port + 1 ))
    done
    _svc_err "no free port in $1..$last"
    return 1
}

_svc_is_root() { [[ "$(id -u)" == 0 ]]; }

# Run a command as the user that owns the PostgreSQL server: `postgres` when we
# are root (postgres refuses to run as root), else the current user.
_svc_as_pg() {
    if _svc_is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- "$@")
        else
            (cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")")
        fi
    else
        "$@"
    fi
}

_svc_write_env() {
    mkdir -p "$SERVICES_STATE_DIR" 2>/dev/null || return 0
    {
        [[ -n "${DATABASE_URL:-}" ]] && printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
        [[ -n "${CELERY_BROKER_URL:-}" ]] && printf 'export CELERY_BROKER_URL=%q\n' "$CELERY_BROKER_URL"
        [[ -n "${REDIS_URL:-}" ]] && printf 'export REDIS_URL=%q\n' "$REDIS_URL"
        true
    } > "$SERVICES_STATE_DIR/env"
}

_svc_tail_log() {
    [[ -f "$1" ]] || return 0
    _svc_log "last lines of $1:"
    tail -n 30 "$1" >&2 || true
}

# --- PostgreSQL --------------------------------------------------------------

_svc_pg_paths() {
    _PG_DATA="$SERVICES_STATE_DIR/pgdata"
    _PG_SOCK="$SERVICES_STATE_DIR/pgsock"
    _PG_LOG="$SERVICES_STATE_DIR/postgres.log"
    _PG_PORTFILE="$SERVICES_STATE_DIR/postgres.port"
}

# Is our own server (from $SERVICES_STATE_DIR) running and ready? Prints its port.
_svc_pg_running_port() {
    _svc_pg_paths
    local bin port
    bin=$(_svc_pg_bin)
    [[ -f "$_PG_DATA/postmaster.pid" && -f "$_PG_PORTFILE" ]] || return 1
    port=$(cat "$_PG_PORTFILE" 2>/dev/null) || return 1
    [[ -n "$port" ]] || return 1
    _svc_as_pg "$bin/pg_ctl" -D "$_PG_DATA" status >/dev/null 2>&1 || return 1
    "$bin/pg_isready" -q -U postgres -h 127.0.0.1 -p "$port" -t 5 || return 1
    printf '%s\n' "$port"
}

_svc_pg_stop() {
    _svc_pg_paths
    local bin pid i
    bin=$(_svc_pg_bin)
    [[ -d "$_PG_DATA" ]] || return 0
    if [[ -f "$_PG_DATA/postmaster.pid" ]]; then
        _svc_as_pg "$bin/pg_ctl" -D "$_PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
        # pg_ctl could not stop it (or the pid file is stale): kill it ourselves.
        pid=$(head -n 1 "$_PG_DATA/postmaster.pid" 2>/dev/null || true)
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
           && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null; then
            _svc_log "postgres pid $pid still alive; sending SIGQUIT"
            kill -QUIT "$pid" 2>/dev/null || true
            for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$_PG_PORTFILE"
    return 0
}

_svc_pg_bootstrap_sql() {
    local bin=$1 port=$2
    local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)
    "${psql[@]}" -d postgres \
        -v app_user="$PG_APP_USER" -v app_pw="$PG_APP_PASSWORD" <<'SQL' || return 1
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB PASSWORD %L', :'app_user', :'app_pw') \gexec
SQL
    "${psql[@]}" -d postgres -v app_user="$PG_APP_USER" -v app_db="$PG_APP_DB" <<'SQL' || return 1
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'app_db', :'app_user', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_db', :'app_user') \gexec
SQL
}

start_postgres() {
    _svc_pg_paths
    local bin port locale i
    bin=$(_svc_pg_bin)
    if [[ -z "$bin" || ! -x "$bin/postgres" ]]; then
        _svc_err "PostgreSQL server binaries not found (looked in ${bin:-/usr/lib/postgresql/*/bin}); set PG_BIN"
        return 1
    fi

    if port=$(_svc_pg_running_port); then
        _svc_log "PostgreSQL already running from $_PG_DATA on port $port: reusing it"
        SVC_PG_STARTED_HERE=0
    else
        # Not running (or unhealthy): clean up whatever is left and start fresh.
        _svc_pg_stop
        rm -rf "$_PG_DATA" "$_PG_SOCK"
        mkdir -p "$SERVICES_STATE_DIR" "$_PG_DATA" "$_PG_SOCK" || return 1
        chmod 0755 "$SERVICES_STATE_DIR" "$_PG_SOCK"   # other users must traverse / reach the socket
        chmod 0700 "$_PG_DATA"
        : > "$_PG_LOG"
        if _svc_is_root; then
            if ! id postgres >/dev/null 2>&1; then
                _svc_log "creating system user postgres"
                useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
            fi
            chown postgres: "$_PG_DATA" "$_PG_SOCK" "$_PG_LOG" || return 1
        fi

        locale=C
        # (no `locale -a | grep -q`: with pipefail, grep's early exit can SIGPIPE locale)
        if grep -qiE '^c\.utf-?8$' < <(locale -a 2>/dev/null); then locale=C.UTF-8; fi
        _svc_log "initdb $_PG_DATA (encoding UTF8, locale $locale, trust auth on local socket + loopback)"
        if ! _svc_as_pg "$bin/initdb" -D "$_PG_DATA" -U postgres --auth=trust --no-sync \
                --encoding=UTF8 --locale="$locale" >>"$_PG_LOG" 2>&1 </dev/null; then
            _svc_err "initdb failed"; _svc_tail_log "$_PG_LOG"; return 1
        fi

        port=$(_svc_free_port "${PG_PORT:-5432}") || return 1
        # Settings go into postgresql.conf so that a plain `pg_ctl restart` keeps them.
        # initdb's default pg_hba.conf only has local-socket, 127.0.0.1/32 and ::1/128
        # lines, so "trust" applies to loopback only; we also only listen on 127.0.0.1.
        # Durability is switched off: this is a throwaway test database.
        cat >> "$_PG_DATA/postgresql.conf" <<EOF

# --- added by .ci/services.sh ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$_PG_SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
        _svc_log "starting PostgreSQL on 127.0.0.1:$port"
        if ! _svc_as_pg "$bin/pg_ctl" -D "$_PG_DATA" -l "$_PG_LOG" -w -t 60 start \
                >/dev/null 2>&1 </dev/null; then
            _svc_err "pg_ctl start failed"; _svc_tail_log "$_PG_LOG"; return 1
        fi
        for i in $(seq 1 60); do
            "$bin/pg_isready" -q -U postgres -h 127.0.0.1 -p "$port" -t 2 && break
            sleep 0.5
        done
        if ! "$bin/pg_isready" -U postgres -h 127.0.0.1 -p "$port" -t 5; then
            _svc_err "PostgreSQL did not become ready"; _svc_tail_log "$_PG_LOG"; return 1
        fi
        printf '%s\n' "$port" > "$_PG_PORTFILE"
        SVC_PG_STARTED_HERE=1
    fi

    if ! _svc_pg_bootstrap_sql "$bin" "$port"; then
        _svc_err "creating role/database $PG_APP_USER/$PG_APP_DB failed"; return 1
    fi
    export DATABASE_URL="postgres://$PG_APP_USER:$PG_APP_PASSWORD@127.0.0.1:$port/$PG_APP_DB"
    _svc_write_env
    _svc_log "DATABASE_URL=$DATABASE_URL"
}

# --- Redis -------------------------------------------------------------------

_svc_redis_paths() {
    _REDIS_DIR="$SERVICES_STATE_DIR/redis"
    _REDIS_PID="$SERVICES_STATE_DIR/redis.pid"
    _REDIS_LOG="$SERVICES_STATE_DIR/redis.log"
    _REDIS_PORTFILE="$SERVICES_STATE_DIR/redis.port"
}

_svc_redis_pid() {
    _svc_redis_paths
    local pid
    pid=$(cat "$_REDIS_PID" 2>/dev/null) || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && grep -q redis "/proc/$pid/cmdline" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

_svc_redis_running_port() {
    _svc_redis_paths
    local port
    _svc_redis_pid >/dev/null || return 1
    port=$(cat "$_REDIS_PORTFILE" 2>/dev/null) || return 1
    [[ -n "$port" ]] || return 1
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] || return 1
    printf '%s\n' "$port"
}

_svc_redis_stop() {
    _svc_redis_paths
    local pid port i
    if pid=$(_svc_redis_pid); then
        port=$(cat "$_REDIS_PORTFILE" 2>/dev/null || true)
        if [[ -n "$port" ]]; then
            redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
        fi
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$_REDIS_PID" "$_REDIS_PORTFILE"
    return 0
}

start_redis() {
    _svc_redis_paths
    local port i
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        _svc_err "redis-server/redis-cli not found (apt-get install redis-server)"
        return 1
    fi

    if port=$(_svc_redis_running_port); then
        _svc_log "Redis already running (pid $(cat "$_REDIS_PID")) on port $port: reusing it"
        SVC_REDIS_STARTED_HERE=0
    else
        _svc_redis_stop
        rm -rf "$_REDIS_DIR"
        mkdir -p "$_REDIS_DIR" || return 1
        chmod 0755 "$SERVICES_STATE_DIR"
        port=$(_svc_free_port "${REDIS_PORT:-6379}") || return 1
        _svc_log "starting Redis on 127.0.0.1:$port (no persistence)"
        if ! redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
                --save "" --appendonly no --dir "$_REDIS_DIR" \
                --pidfile "$_REDIS_PID" --logfile "$_REDIS_LOG" \
                >/dev/null 2>&1 </dev/null; then
            _svc_err "redis-server failed to start"; _svc_tail_log "$_REDIS_LOG"; return 1
        fi
        for i in $(seq 1 100); do
            [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] && break
            sleep 0.1
        done
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" != PONG ]]; then
            _svc_err "Redis did not answer PING"; _svc_tail_log "$_REDIS_LOG"; return 1
        fi
        # The pid file is written right after daemonizing; wait for it briefly.
        for i in $(seq 1 50); do [[ -s "$_REDIS_PID" ]] && break; sleep 0.1; done
        printf '%s\n' "$port" > "$_REDIS_PORTFILE"
        SVC_REDIS_STARTED_HERE=1
    fi

    export CELERY_BROKER_URL="redis://127.0.0.1:$port/0"
    export REDIS_URL="$CELERY_BROKER_URL"
    _svc_write_env
    _svc_log "CELERY_BROKER_URL=$CELERY_BROKER_URL"
}

# --- both --------------------------------------------------------------------

# stop_services [--only-started]
#   --only-started: leave alone servers that this shell found already running
#   (reused) and only stop the ones it started itself.
stop_services() {
    local only_started=0
    [[ "${1:-}" == --only-started ]] && only_started=1
    if (( only_started == 0 )) || [[ "${SVC_REDIS_STARTED_HERE:-0}" == 1 ]]; then
        _svc_log "stopping Redis"
        _svc_redis_stop
    else
        _svc_log "leaving reused Redis running"
    fi
    if (( only_started == 0 )) || [[ "${SVC_PG_STARTED_HERE:-0}" == 1 ]]; then
        _svc_log "stopping PostgreSQL"
        _svc_pg_stop
    else
        _svc_log "leaving reused PostgreSQL running"
    fi
    (( only_started )) || rm -f "$SERVICES_STATE_DIR/env"
    return 0
}

services_status() {
    local p
    _svc_pg_paths; _svc_redis_paths
    if p=$(_svc_pg_running_port); then echo "postgres: running on 127.0.0.1:$p (data $_PG_DATA)"; else echo "postgres: not running"; fi
    if p=$(_svc_redis_running_port); then echo "redis:    running on 127.0.0.1:$p (pid $(cat "$_REDIS_PID"))"; else echo "redis:    not running"; fi
}

# Executed rather than sourced: a tiny CLI.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}" in
        start)  start_postgres; start_redis
                echo "# source $SERVICES_STATE_DIR/env  (or: source .ci/services.sh && start_postgres && start_redis)"
                cat "$SERVICES_STATE_DIR/env" ;;
        stop)   stop_services ;;
        status) services_status ;;
        env)    cat "$SERVICES_STATE_DIR/env" ;;
        *)      echo "usage: bash $0 start|stop|status|env   (or source it and call start_postgres / start_redis / stop_services)" >&2
                exit 2 ;;
    esac
fi
