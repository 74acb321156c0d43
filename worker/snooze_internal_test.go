package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSnoozeDelay(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]time.Duration{
		"1s":                   time.Second,
		"working\n90s\n":       90 * time.Second,
		"5m\n\n":               5 * time.Minute,
		"2.5":                  2500 * time.Millisecond,
		"":                     DefaultSnooze,
		"soon":                 DefaultSnooze,
		"-3s":                  DefaultSnooze,
		"-4":                   DefaultSnooze,
		"99999999999":          DefaultSnooze, // over MaxSnooze
		"progress 50%\n 10s  ": 10 * time.Second,
	} {
		require.Equal(t, want, snoozeDelay([]byte(out)), "stdout %q", out)
	}
}

func TestSnooze_Clamped(t *testing.T) {
	t.Parallel()
	d, ok := SnoozeDelay(Snooze(-time.Second))
	require.True(t, ok)
	require.Zero(t, d)
	d, _ = SnoozeDelay(Snooze(365 * 24 * time.Hour))
	require.Equal(t, MaxSnooze, d)
	_, ok = SnoozeDelay(Permanent(errors.New("nope")))
	require.False(t, ok)
}
