#!/usr/bin/env bash
# notify-slack.sh — post a deployment's outcome to Slack through an incoming webhook.
#
#   SLACK_WEBHOOK_URL=... .github/scripts/notify-slack.sh success|failure TEXT
#
# The message says what happened (TEXT), with a green or red bar, and links the workflow run
# (from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID, which Actions sets). The JSON is
# built by jq, so any TEXT is escaped correctly. Without SLACK_WEBHOOK_URL it prints a warning
# and exits 0: a missing webhook must not fail a deployment, but it must be visible.
# Exit 1 when Slack refuses the message. Tested by deploy/scripts_test.go with a local server.
set -euo pipefail

[[ $# -eq 2 && ( $1 == success || $1 == failure ) ]] || { echo "usage: $0 success|failure TEXT" >&2; exit 2; }
status=$1
text=$2

if [[ -z ${SLACK_WEBHOOK_URL:-} ]]; then
	echo "::warning::SLACK_WEBHOOK_URL is not set: no Slack notification ($status: $text)"
	exit 0
fi

color=good
icon=":white_check_mark:"
if [[ $status == failure ]]; then
	color=danger
	icon=":x:"
fi
run_url=""
if [[ -n ${GITHUB_RUN_ID:-} ]]; then
	run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID}"
fi

payload=$(jq -n --arg text "$icon $text" --arg color "$color" --arg run "$run_url" --arg actor "${GITHUB_ACTOR:-}" '{
	text: $text,
	attachments: [{
		color: $color,
		fields: ([{title: "Run", value: $run, short: false}, {title: "By", value: $actor, short: true}]
			| map(select(.value != "")))
	}]
}')
if ! curl --fail --silent --show-error --max-time 20 --retry 2 \
	-H 'Content-Type: application/json' --data "$payload" "$SLACK_WEBHOOK_URL" >/dev/null; then
	echo "notify-slack: Slack refused the message ($status: $text)" >&2
	exit 1
fi
echo "notify-slack: sent ($status)"
