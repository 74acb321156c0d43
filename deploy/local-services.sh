#!/usr/bin/env bash
# local-services.sh — make sure PostgreSQL and Redis answer, for the tests and for local runs.
#
#   deploy/local-services.sh [env]   find or start both; print `export JQ_DB_URL=... JQ_REDIS_ADDR=...`
#   deploy/local-services.sh status  say what answers, start nothing
#   deploy/local-services.sh stop    stop the private instances this script started
#   deploy/local-services.sh database NAME
#                                    print JQ_DB_URL with database NAME (created when missing),
#                                    when JQ_DB_URL names the maintenance database `postgres`
#
# For each service, in order:
#   1. the configured one (JQ_DB_URL / JQ_REDIS_ADDR), else the usual local one
#      (postgres://postgres@127.0.0.1:5432/postgres, 127.0.0.1:6379), if it answers;
#   2. else a private throwaway instance started from the machine's binaries (initdb/pg_ctl,
#      redis-server) on a spare port, with its files under $JQ_LOCAL_DIR
#      (default ~/.cache/jq/local), reused on the next run while it still answers;
#   3. else, when running as root, the Debian packages (postgresql-15, redis-server) are
#      installed first.
# Diagnostics go to stderr; stdout carries only the export lines, so `eval "$(... env)"` works.
# Idempotent: running it again prints the same URLs while the services still answer.
set -euo pipefail

STATE_DIR=${JQ_LOCAL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jq/local}
DEFAULT_DB_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
DEFAULT_REDIS_ADDR="127.0.0.1:6379"

log() { printf 'local-services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- probes -------------------------------------------------------------------------------

pg_answers() { # URL
	command -v psql >/dev/null 2>&1 || return 1
	PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

redis_answers() { # host:port
	local host=${1%:*} port=${1##*:} reply
	# Plain bash TCP, so the probe needs no redis-cli.
	{ exec 9<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
	printf 'PING\r\n' >&9
	IFS= read -r -t 2 reply <&9 || reply=""
	exec 9>&- 9<&-
	[[ $reply == +PONG* ]]
}

port_free() { # port
	! { (exec 8<>"/dev/tcp/127.0.0.1/$1"); } 2>/dev/null
}

free_port() { # first free port at or above $1
	local p=$1
	while ! port_free "$p"; do p=$((p + 1)); done
	echo "$p"
}

apt_install() { # packages...
	[[ $(id -u) -eq 0 ]] || die "$* not installed and not root: install it (apt-get install $*) or set the URL of a running one"
	command -v apt-get >/dev/null 2>&1 || die "$* not installed and apt-get is missing"
	log "installing $* (Debian packages)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2; }
}

# --- PostgreSQL ---------------------------------------------------------------------------

pg_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		[[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return; }
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return; }
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# as_pg runs a command as the user that owns the private cluster (PostgreSQL refuses root).
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

start_private_pg() {
	local bindir dir=$STATE_DIR/postgres port url
	bindir=$(pg_bindir)
	if [[ -z $bindir ]]; then
		apt_install postgresql-15 postgresql-client-15 || apt_install postgresql postgresql-client
		bindir=$(pg_bindir)
		[[ -n $bindir ]] || die "PostgreSQL installed but initdb/pg_ctl not found"
	fi
	command -v psql >/dev/null 2>&1 || apt_install postgresql-client-15 || apt_install postgresql-client
	PG_OS_USER=$(id -un)
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir "$STATE_DIR" --shell /usr/sbin/nologin postgres
		PG_OS_USER=postgres
	fi
	mkdir -p "$dir"
	[[ $(id -u) -eq 0 ]] && chown "$PG_OS_USER" "$dir"

	# Reuse the running private instance when it still answers.
	if [[ -f $dir/port ]]; then
		port=$(cat "$dir/port")
		url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
		if pg_answers "$url"; then
			echo "$url"
			return
		fi
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	fi

	if [[ ! -f $dir/data/PG_VERSION ]]; then
		log "initialising a private PostgreSQL cluster in $dir/data"
		as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
			die "initdb failed; see $dir/initdb.log"
	fi
	# Ports below the kernel's ephemeral range (32768+), so an outgoing connection cannot be
	# holding the one we pick; and a few tries in case another process takes it meanwhile.
	port=$(free_port 25432)
	for try in 1 2 3 4 5; do
		log "starting private PostgreSQL on 127.0.0.1:$port"
		if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
			-o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' -c max_connections=300 -c shared_buffers=256MB" \
			>/dev/null; then
			break
		fi
		[[ $try -lt 5 ]] && grep -q "Address already in use" "$dir/server.log" || die "PostgreSQL did not start; see $dir/server.log"
		port=$(free_port $((port + 1)))
	done
	echo "$port" >"$dir/port"
	url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	pg_answers "$url" || die "private PostgreSQL started but does not answer at $url"
	echo "$url"
}

stop_private_pg() {
	local dir=$STATE_DIR/postgres bindir
	[[ -f $dir/data/PG_VERSION ]] || return 0
	bindir=$(pg_bindir)
	PG_OS_USER=$(stat -c %U "$dir/data")
	as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 && log "stopped private PostgreSQL" || true
	rm -f "$dir/port"
}

find_pg() {
	local url=${JQ_DB_URL:-$DEFAULT_DB_URL}
	if pg_answers "$url"; then
		echo "$url"
		return
	fi
	log "no PostgreSQL answers at $(redact "$url")"
	start_private_pg
}

redact() { sed -E 's#(://[^:/@]+):[^@]*@#\1:xxxxx@#' <<<"$1"; }

# --- Redis --------------------------------------------------------------------------------

start_private_redis() {
	local dir=$STATE_DIR/redis port
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server
	mkdir -p "$dir"
	if [[ -f $dir/port ]]; then
		port=$(cat "$dir/port")
		if redis_answers "127.0.0.1:$port"; then
			echo "127.0.0.1:$port"
			return
		fi
	fi
	port=$(free_port 26379)
	for try in 1 2 3 4 5; do
		log "starting private Redis on 127.0.0.1:$port"
		redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
			--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null ||
			die "redis-server did not start; see $dir/redis.log"
		for _ in $(seq 50); do
			redis_answers "127.0.0.1:$port" && break 2
			sleep 0.1
		done
		port=$(free_port $((port + 1)))
	done
	redis_answers "127.0.0.1:$port" || die "private Redis started but does not answer; see $dir/redis.log"
	echo "$port" >"$dir/port"
	echo "127.0.0.1:$port"
}

stop_private_redis() {
	local dir=$STATE_DIR/redis
	[[ -f $dir/redis.pid ]] || return 0
	kill "$(cat "$dir/redis.pid")" 2>/dev/null && log "stopped private Redis" || true
	rm -f "$dir/port" "$dir/redis.pid"
}

find_redis() {
	local addr=${JQ_REDIS_ADDR:-$DEFAULT_REDIS_ADDR}
	if redis_answers "$addr"; then
		echo "$addr"
		return
	fi
	log "no Redis answers at $addr"
	start_private_redis
}

# --- main ---------------------------------------------------------------------------------

case ${1:-env} in
env)
	db_url=$(find_pg)
	redis_addr=$(find_redis)
	log "PostgreSQL: $(redact "$db_url")"
	log "Redis: $redis_addr"
	printf "export JQ_DB_URL='%s'\n" "$db_url"
	printf "export JQ_REDIS_ADDR='%s'\n" "$redis_addr"
	;;
status)
	url=${JQ_DB_URL:-$DEFAULT_DB_URL}
	pg_answers "$url" && log "PostgreSQL answers at $(redact "$url")" || log "PostgreSQL does not answer at $(redact "$url")"
	addr=${JQ_REDIS_ADDR:-$DEFAULT_REDIS_ADDR}
	redis_answers "$addr" && log "Redis answers at $addr" || log "Redis does not answer at $addr"
	;;
database)
	name=${2:?usage: local-services.sh database NAME}
	[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name $name: use lowercase letters, digits and _"
	url=${JQ_DB_URL:?set JQ_DB_URL first: eval "\$(deploy/local-services.sh env)"}
	if [[ $url != *"/postgres?"* && $url != *"/postgres" ]]; then
		echo "$url" # a database was chosen explicitly; keep it
		exit 0
	fi
	if [[ -z $(psql "$url" -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$name'") ]]; then
		psql "$url" -Xqc "CREATE DATABASE $name" >&2 || die "could not create database $name"
		log "created database $name"
	fi
	sed -E "s#/postgres(\?|$)#/$name\1#" <<<"$url"
	;;
stop)
	stop_private_pg
	stop_private_redis
	;;
-h | --help | help)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	;;
*)
	die "unknown command $1 (env, status, stop)"
	;;
esac
