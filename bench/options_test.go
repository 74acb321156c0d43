package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"500": 500, "10k": 10_000, "1M": 1_000_000, "1_000": 1000, "2K": 2000} {
		got, err := parseCount(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-5", "x", "1.5k"} {
		_, err := parseCount(in)
		require.Error(t, err, in)
	}
}

func TestIntList(t *testing.T) {
	t.Parallel()
	var l intList
	require.NoError(t, l.Set("10k, 100k,1M"))
	require.Equal(t, intList{10_000, 100_000, 1_000_000}, l)
	require.Equal(t, "10000,100000,1000000", l.String())
	require.Error(t, l.Set("10k,,5"))
}

func TestPayloadSeq(t *testing.T) {
	t.Parallel()
	require.Equal(t, 42, payloadSeq(seqPayload(42)))
	require.Equal(t, 7, payloadSeq([]byte(`{"seq": 7}`)))
	require.Equal(t, -1, payloadSeq([]byte(`{}`)))
	require.Equal(t, -1, payloadSeq([]byte(`{"command": ["true"]}`)))
}

func TestWithoutDBURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"burn", "--jobs", "5"},
		withoutDBURL([]string{"burn", "--db-url", "postgres://u:secret@h/db", "--jobs", "5", "--db-url=postgres://x"}))
}

func TestShortCount(t *testing.T) {
	t.Parallel()
	require.Equal(t, "10k", shortCount(10_000))
	require.Equal(t, "1M", shortCount(1_000_000))
	require.Equal(t, "1500", shortCount(1500))
}
