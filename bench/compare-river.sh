#!/usr/bin/env bash
# Interleaves jq's burn and SQL-ceiling runs with River's burn-down on the same PostgreSQL and
# prints each round's figures and the median ratios. Only ratios from one such run compare:
# absolute figures vary with the machine and what else runs on it.
#
# Usage: RIVER_BASELINE=path/to/river-baseline.sh bench/compare-river.sh
#   RIVER_BASELINE  the River program's driver (it builds River v0.51.2's no-op burn-down; it is
#                   not part of jq), e.g. a checkout's shared/tools/river-baseline.sh
#   JQ_DB_URL       PostgreSQL to use (its user needs CREATEDB); else deploy/local-services.sh
#   ROUNDS=3 JOBS=150000 JQ_BENCH=bin/jq-bench BURN_FLAGS="--procs 1 --concurrency 2000"
# The burn is compared at matched settings: River's program runs 2,000 worker goroutines, so
# jq's no-op worker process gets 2,000 slots (its default, 256, bounds the burn below the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RIVER_BASELINE:?set RIVER_BASELINE to the path of river-baseline.sh}"
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-150000}
JQ_BENCH=${JQ_BENCH:-bin/jq-bench}
BURN_FLAGS=${BURN_FLAGS:---procs 1 --concurrency 2000}
if [ -z "${JQ_DB_URL:-}" ]; then
  eval "$(deploy/local-services.sh env)"
fi
[ -x "$JQ_BENCH" ] || go build -o "$JQ_BENCH" ./cmd/jq-bench

figure() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs_per_sec"]))'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

jq_burn=(); jq_sql=(); river=()
for round in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086 # BURN_FLAGS is a list of flags
  b=$("$JQ_BENCH" burn --jobs "$JOBS" $BURN_FLAGS --json 2>/dev/null | figure)
  s=$("$JQ_BENCH" sql --jobs "$JOBS" --json 2>/dev/null | figure)
  r=$(DATABASE_URL="$JQ_DB_URL" RIVER_BENCH_JOBS="$JOBS" RIVER_BENCH_RUNS=1 "$RIVER_BASELINE" 2>/dev/null | sed -n 's/^river_jobs_per_sec=//p')
  r=${r%.*}
  jq_burn+=("$b"); jq_sql+=("$s"); river+=("$r")
  echo "round $round: jq burn $b jobs/s, jq sql $s jobs/s, river $r jobs/s (burn ratio $(python3 -c "print(round($b/$r, 2))"))"
done
mb=$(printf '%s\n' "${jq_burn[@]}" | median)
ms=$(printf '%s\n' "${jq_sql[@]}" | median)
mr=$(printf '%s\n' "${river[@]}" | median)
echo "median: jq burn $mb, jq sql $ms, river $mr jobs/s"
echo "burn_ratio=$(python3 -c "print(round($mb/$mr, 2))") (target >= 1.0)"
echo "sql_ratio=$(python3 -c "print(round($ms/$mr, 2))") (target >= 1.5)"
