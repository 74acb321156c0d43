package main

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocs keeps docs/jq-ctl.md in step with the code: every command has a section, every exit
// code is in the table, every global flag and its variable are listed, and every jq-ctl line of
// its sh blocks, like every example of --help, parses.
func TestDocs(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/jq-ctl.md")
	require.NoError(t, err)
	doc := string(raw)

	for _, path := range commandPaths {
		if len(path) == 2 {
			require.Contains(t, doc, "### `jq-ctl "+strings.Join(path, " "), "docs/jq-ctl.md lacks a section for %v", path)
		}
	}
	for _, code := range []int{exitOK, exitFailure, exitUsage, exitNotFound, exitInvalid, exitUnavailable, exitConflict,
		exitDeadLettered, exitWaitTimeout, exitDenied, exitInterrupted} {
		require.Regexp(t, regexp.MustCompile(`(?m)^\| `+strconv.Itoa(code)+` \| `), doc, "exit code %d", code)
	}
	a := newApp(nil, io.Discard, io.Discard)
	a.tree()
	for _, d := range a.globalDefs {
		require.Contains(t, doc, "`"+d.flagName()+"`")
		require.Contains(t, doc, "`"+d.env+"`")
	}

	var lines []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		lines = append(lines, strings.Split(strings.TrimSpace(block[1]), "\n")...)
	}
	require.Greater(t, len(lines), 30)
	for _, c := range allCommands(a) {
		lines = append(lines, c.spec().examples...)
	}
	for _, line := range lines {
		args, ok := ctlArgs(line)
		if !ok {
			continue
		}
		a := newApp(nil, io.Discard, io.Discard)
		require.NoError(t, a.tree().Parse(args), "example %q", line)
	}
}

// allCommands lists every leaf command, for their help examples.
func allCommands(a *app) []command {
	return []command{
		&jobSubmitCommand{app: a}, &jobStatusCommand{app: a}, &jobCancelCommand{app: a}, &jobListCommand{app: a},
		&jobLogsCommand{app: a}, &jobRetryCommand{app: a},
		&queueListCommand{app: a}, &queueCreateCommand{app: a}, &queueDeleteCommand{app: a}, &queueStatsCommand{app: a},
		&queuePauseCommand{app: a}, &queuePauseCommand{app: a, resume: true}, &queueUpdateCommand{app: a},
		&workerListCommand{app: a}, &workerDrainCommand{app: a}, &workerShutdownCommand{app: a},
		&systemStatusCommand{app: a}, &systemVersionCommand{app: a},
		&keyCreateCommand{app: a}, &keyListCommand{app: a}, &keyRevokeCommand{app: a}, &auditListCommand{app: a},
		&scheduleCreateCommand{app: a}, &scheduleListCommand{app: a}, &scheduleActionCommand{app: a, action: "delete"},
		&scheduleActionCommand{app: a, action: "pause"}, &scheduleActionCommand{app: a, action: "resume"},
		&scheduleActionCommand{app: a, action: "trigger"},
		&workflowSubmitCommand{app: a}, &workflowStatusCommand{app: a},
	}
}

// ctlArgs finds the jq-ctl command in a shell line and splits its arguments as sh would (quotes,
// no expansion), up to the end of the command (a pipe, ")", "&&", ";").
func ctlArgs(line string) ([]string, bool) {
	i := strings.Index(line, "jq-ctl ")
	if i < 0 {
		return nil, false
	}
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line[i+len("jq-ctl "):] {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '|' || r == ')' || r == '&' || r == ';':
			if inWord {
				words = append(words, word.String())
			}
			return words, true
		case r == ' ':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, true
}
