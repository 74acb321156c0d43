#!/usr/bin/env bash
# run-local.sh — run jq on this machine: jq-server and one jq-worker against a PostgreSQL (and
# Redis) that deploy/local-services.sh finds or starts. `make run` calls it after building.
# Ctrl-C stops both gracefully.
#
# Ports (override with the variables): gRPC JQ_GRPC_PORT (50051), the console JQ_UI_PORT
# (8088, on 127.0.0.1), server metrics 9090 and health 8080, worker metrics 9091 and health 8081.
#
# API keys: jq-server refuses calls without one. This script keeps two local keys in
# ${XDG_CONFIG_HOME:-~/.config}/jq: token (role admin, for you: jq-ctl reads it when given no
# other key) and local-worker.key (role worker, for the local jq-worker). They are made once
# per database and reused on later runs.
set -euo pipefail
cd "$(dirname "$0")/.."

services=$(deploy/local-services.sh env) || exit 1
eval "$services"
JQ_DB_URL=$(deploy/local-services.sh database jq)
export JQ_DB_URL JQ_REDIS_ADDR
export JQ_GRPC_PORT=${JQ_GRPC_PORT:-50051}
export JQ_SERVER_ADDR=${JQ_SERVER_ADDR:-localhost:$JQ_GRPC_PORT}
# The console (docs/console.md): off by default in jq-server, on for a local run.
export JQ_UI_ENABLED=${JQ_UI_ENABLED:-true} JQ_UI_HOST=${JQ_UI_HOST:-127.0.0.1} JQ_UI_PORT=${JQ_UI_PORT:-8088}
console_url="http://$JQ_UI_HOST:$JQ_UI_PORT${JQ_UI_PATH_PREFIX:-}/"
logs=${JQ_RUN_LOGS:-$(mktemp -d /tmp/jq-run.XXXXXX)}

keys=${XDG_CONFIG_HOME:-$HOME/.config}/jq
mkdir -p "$keys"
chmod 700 "$keys"
# local_key NAME ROLE FILE: FILE holds an active key NAME of this database (made now if need be).
local_key() {
	local name=$1 role=$2 file=$3
	if bin/jq-server auth create-key --name "$name" --role "$role" --out "$file" 2>/dev/null; then
		return
	fi
	# FILE holds a key of another database, or NAME was taken by a key whose file is gone:
	# keep the old file aside and make a key under a fresh name.
	[ -e "$file" ] && mv "$file" "$file.$(date +%Y%m%d%H%M%S).old"
	bin/jq-server auth create-key --name "$name-$(date +%Y%m%d%H%M%S)" --role "$role" --out "$file"
}
local_key local-admin admin "$keys/token"
local_key local-worker worker "$keys/local-worker.key"

pids=()
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "stopping jq (logs: $logs)"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

bin/jq-server >"$logs/jq-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	if bin/jq-ctl system status >/dev/null 2>&1; then break; fi
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "jq-server exited; see $logs/jq-server.log:" >&2
		tail -5 "$logs/jq-server.log" >&2
		exit 1
	fi
	sleep 0.2
done
bin/jq-worker --concurrency 4 --token-file "$keys/local-worker.key" >"$logs/jq-worker.log" 2>&1 &
pids+=($!)

cat <<TXT

jq is running: jq-server on $JQ_SERVER_ADDR (PostgreSQL $(sed -E 's#://[^@]*@#://#' <<<"$JQ_DB_URL")), one jq-worker.
Logs: $logs/jq-server.log and $logs/jq-worker.log. Ctrl-C stops both.
Your admin API key is in $keys/token: jq-ctl uses it when given no other key
(elsewhere: jq-ctl --token-file $keys/token ...).

The console: open $console_url and sign in with that key
(print it with: cat $keys/token).

Try, in another terminal from this directory:

  bin/jq-ctl job submit --wait -- echo "hello from jq"      # prints: hello from jq
  id=\$(bin/jq-ctl job submit -- sh -c 'sleep 2; date')
  bin/jq-ctl job status \$id
  bin/jq-ctl job logs \$id
  bin/jq-ctl job submit --max-retries 1 -- false             # fails, retries, dead-letters
  bin/jq-ctl job list --status DEAD_LETTERED
  bin/jq-ctl queue stats
  bin/jq-ctl worker list
  bin/jq-ctl system status

Or from psql:  psql "$JQ_DB_URL" -c "SELECT jq.submit('default', '{\"command\": [\"echo\", \"hi\"]}')"
TXT
wait -n "${pids[@]}"
echo "a jq process exited; see $logs" >&2
exit 1
