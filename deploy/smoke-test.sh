#!/usr/bin/env bash
# smoke-test.sh — does a running jq answer and run a job? Used after a deploy and by the
# compose end-to-end run:
#
#   JQ_SERVER_ADDR=localhost:15051 JQ_TOKEN_FILE=admin.key deploy/smoke-test.sh
#
# 1. `jq-ctl system status` until it answers (SMOKE_ATTEMPTS tries, SMOKE_INTERVAL seconds
#    apart: a port-forward or a fresh rollout may take a moment);
# 2. submits `echo jq-smoke-<nonce>` to SMOKE_QUEUE with --wait, and checks that the job ran
#    (DONE) and printed exactly that nonce, within SMOKE_TIMEOUT.
#
# jq-ctl reads its own variables (JQ_SERVER_ADDR, JQ_TOKEN / JQ_TOKEN_FILE, JQ_TLS_*); the
# script only passes them on. Environment: JQ_CTL (the jq-ctl to run; default jq-ctl on PATH),
# SMOKE_QUEUE (default), SMOKE_TIMEOUT (2m), SMOKE_ATTEMPTS (20), SMOKE_INTERVAL (3).
# Exit 0 when jq ran the job; non-zero, with the reason on stderr, otherwise.
# Tested by deploy/scripts_test.go with a stand-in jq-ctl.
set -euo pipefail

ctl=${JQ_CTL:-jq-ctl}
queue=${SMOKE_QUEUE:-default}
timeout=${SMOKE_TIMEOUT:-2m}
attempts=${SMOKE_ATTEMPTS:-20}
interval=${SMOKE_INTERVAL:-3}

log() { printf 'smoke-test: %s\n' "$*" >&2; }

command -v "$ctl" >/dev/null 2>&1 || { log "no $ctl to run (set JQ_CTL or put jq-ctl on PATH)"; exit 2; }

for ((i = 1; ; i++)); do
	if status=$("$ctl" system status 2>&1); then
		log "jq-server answers (attempt $i)"
		break
	fi
	if ((i >= attempts)); then
		log "jq-server did not answer after $attempts attempts: $status"
		exit 1
	fi
	sleep "$interval"
done

nonce="jq-smoke-$(date +%s)-$RANDOM"
set +e
out=$("$ctl" job submit --queue "$queue" --wait --wait-timeout "$timeout" -- echo "$nonce")
rc=$?
set -e
case $rc in
0) ;;
7) log "the smoke job was dead-lettered (jq-ctl exit 7): a worker took it and failed"; exit 1 ;;
8) log "the smoke job did not finish within $timeout (jq-ctl exit 8): is a worker on queue $queue?"; exit 1 ;;
*) log "jq-ctl job submit failed (exit $rc)"; exit 1 ;;
esac
if [[ $out != "$nonce" ]]; then
	log "the smoke job printed '$out', want '$nonce'"
	exit 1
fi
log "ok: a worker ran the smoke job on queue $queue"
