#!/usr/bin/env bash
# check-migrations.sh — committed migrations are append-only.
#
#   .github/scripts/check-migrations.sh BASE [HEAD]
#
# Compares HEAD (default: HEAD) with its merge base with BASE (a commit, branch or tag) and
# fails when a migration that BASE already has under db/migrations/ was modified, deleted or
# renamed: a database that applied it would never see the change (dbmate runs each version
# once), so the fix is a new migration. It also fails when an added migration is misnamed or
# is not newer than every migration of BASE, because it would then sort among versions that
# databases have already applied.
#
# Run by .github/workflows/pr-checks.yml on every pull request, and usable locally:
#   .github/scripts/check-migrations.sh origin/main
# Tested by deploy/scripts_test.go against throwaway git repositories.
#
# Environment: MIGRATIONS_DIR (default db/migrations). Exit 0 when the rule holds, 1 when it
# does not (each problem on stderr, and as a GitHub annotation when GITHUB_ACTIONS is set),
# 2 on a usage error.
set -euo pipefail

usage() { echo "usage: $0 BASE [HEAD]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
base=$1
head=${2:-HEAD}
dir=${MIGRATIONS_DIR:-db/migrations}
dir=${dir%/}

problems=0
problem() { # FILE MESSAGE
	problems=$((problems + 1))
	if [[ -n ${GITHUB_ACTIONS:-} ]]; then
		echo "::error file=$1::$2"
	fi
	echo "check-migrations: $1: $2" >&2
}

git rev-parse --verify --quiet "$base^{commit}" >/dev/null || { echo "check-migrations: unknown base $base" >&2; exit 2; }
git rev-parse --verify --quiet "$head^{commit}" >/dev/null || { echo "check-migrations: unknown head $head" >&2; exit 2; }
merge_base=$(git merge-base "$base" "$head")

# The newest migration version the base already has (dbmate versions are the leading digits).
latest=$(git ls-tree --name-only "$merge_base" -- "$dir/" | sed -n 's|.*/\([0-9][0-9]*\)_[^/]*\.sql$|\1|p' | sort -n | tail -1)

added=0
# --no-renames: a rename shows as a deletion plus an addition, and the deletion is refused.
while IFS=$'\t' read -r status path; do
	[[ -n $status ]] || continue
	case $status in
	A)
		added=$((added + 1))
		name=${path##*/}
		if [[ ! $name =~ ^([0-9]{14})_[a-z0-9_]+\.sql$ ]]; then
			problem "$path" "new migration name must be YYYYMMDDHHMMSS_description.sql (lower case, digits, _)"
			continue
		fi
		version=${BASH_REMATCH[1]}
		if [[ -n $latest && $version -le $latest ]]; then
			problem "$path" "version $version is not newer than $latest, the latest migration of the base: take a newer timestamp"
		fi
		;;
	D) problem "$path" "committed migration deleted: migrations are append-only; add a new migration that undoes it instead" ;;
	*) problem "$path" "committed migration changed ($status): migrations are append-only; put the change in a new migration" ;;
	esac
done < <(git diff --no-renames --name-status "$merge_base" "$head" -- "$dir/")

if ((problems > 0)); then
	echo "check-migrations: $problems problem(s) under $dir/ between $(git rev-parse --short "$merge_base") and $head" >&2
	exit 1
fi
echo "check-migrations: ok ($added new migration(s), none of the committed ones changed)"
