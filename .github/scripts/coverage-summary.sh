#!/usr/bin/env bash
# coverage-summary.sh — a Markdown summary of a Go coverage profile, for a pull-request comment.
#
#   .github/scripts/coverage-summary.sh coverage.out > summary.md
#
# Prints the total statement coverage and one row per package (statements covered / total),
# computed from the profile itself (`go test -coverprofile`), so it needs neither the sources
# nor a Go toolchain. A block listed more than once (several test binaries cover the same
# package) counts once, covered if any run covered it. The first line is a marker that
# pr-checks.yml uses to update its previous comment instead of adding another.
#
# Tested by deploy/scripts_test.go. Exit 1 when the profile is missing, empty or malformed.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 COVERAGE_PROFILE" >&2; exit 2; }
profile=$1
[[ -s $profile ]] || { echo "coverage-summary: $profile is missing or empty" >&2; exit 1; }

awk '
NR == 1 {
	if ($0 !~ /^mode: (set|count|atomic)$/) { print "coverage-summary: line 1: want a mode: line, got " $0 > "/dev/stderr"; bad = 1; exit 1 }
	next
}
NF == 0 { next }
{
	# file.go:startLine.startCol,endLine.endCol numStatements count
	if (NF != 3 || $1 !~ /^[A-Za-z0-9._\/-]+\.go:[0-9]+\.[0-9]+,[0-9]+\.[0-9]+$/ || $2 !~ /^[0-9]+$/ || $3 !~ /^[0-9]+$/) {
		print "coverage-summary: line " NR ": malformed: " $0 > "/dev/stderr"; bad = 1; exit 1
	}
	block = $1
	stmts[block] = $2
	if ($3 > 0) covered[block] = 1
}
END {
	if (bad) exit 1
	n = 0
	for (b in stmts) {
		file = b; sub(/:.*/, "", file)
		pkg = file; sub(/\/[^\/]*$/, "", pkg)
		if (!(pkg in total)) { pkgs[++n] = pkg }
		total[pkg] += stmts[b]; all += stmts[b]
		if (b in covered) { hit[pkg] += stmts[b]; allhit += stmts[b] }
	}
	if (all == 0) { print "coverage-summary: no statements in the profile" > "/dev/stderr"; exit 1 }
	# insertion sort: n is the number of packages, a few dozen
	for (i = 2; i <= n; i++) { v = pkgs[i]; j = i - 1; while (j > 0 && pkgs[j] > v) { pkgs[j + 1] = pkgs[j]; j-- }; pkgs[j + 1] = v }
	print "<!-- jq-coverage-summary -->"
	print "### Unit test coverage"
	print ""
	printf "Total: **%.1f%%** of statements (%d of %d)\n", 100 * allhit / all, allhit, all
	print ""
	print "| package | coverage | statements |"
	print "| --- | ---: | ---: |"
	for (i = 1; i <= n; i++) {
		p = pkgs[i]
		printf "| `%s` | %.1f%% | %d / %d |\n", p, 100 * hit[p] / total[p], hit[p], total[p]
	}
}
' "$profile"
