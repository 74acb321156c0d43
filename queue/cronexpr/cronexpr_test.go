package cronexpr_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue/cronexpr"
)

func TestParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 28, 10, 7, 30, 0, time.UTC) // a Saturday
	for _, tc := range []struct {
		expr, tz string
		next     time.Time // in UTC
	}{
		{"0 3 * * *", "", time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC)},
		{"0 3 * * *", "Europe/Paris", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}, // 03:00 CEST, summer time from that night
		{"*/15 * * * *", "UTC", time.Date(2026, 3, 28, 10, 15, 0, 0, time.UTC)},
		{"30 */5 * * * *", "", time.Date(2026, 3, 28, 10, 10, 30, 0, time.UTC)}, // seconds first
		{"0 9 * * MON-FRI", "", time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)},
		{"@hourly", "", time.Date(2026, 3, 28, 11, 0, 0, 0, time.UTC)},
		{"@every 90s", "", at.Add(90 * time.Second)},
	} {
		s, err := cronexpr.Parse(tc.expr, tc.tz)
		require.NoError(t, err, tc.expr)
		require.Equal(t, tc.next, s.Next(at).UTC(), "%s in %q", tc.expr, tc.tz)
		require.Equal(t, time.UTC, s.Next(at).Location(), "in the location of the time given")
	}
	for _, tc := range []struct{ expr, tz, want string }{
		{"", "", "empty"},
		{"61 * * * *", "", "61"},
		{"* * *", "", "expected 5 to 6 fields"},
		{"@fortnightly", "", "fortnightly"},
		{"0 3 * * *", "Mars/Olympus", "Mars/Olympus"},
		{"CRON_TZ=Europe/Paris 0 3 * * *", "", "time_zone"},
		{"0 0 30 2 *", "", "never fires"},
	} {
		_, err := cronexpr.Parse(tc.expr, tc.tz)
		require.ErrorContains(t, err, tc.want, "%q", tc.expr)
	}
}
