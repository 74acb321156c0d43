package safetext_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/safetext"
)

func TestClean(t *testing.T) {
	t.Parallel()
	require.Equal(t, "plain", safetext.Clean("plain", 0))
	require.Equal(t, "a\uFFFDb", safetext.Clean("a\x00b", 0), "NUL, which PostgreSQL text refuses")
	require.Equal(t, "a\uFFFD\uFFFDb", safetext.Clean("a\xff\xfeb", 0), "invalid bytes")
	require.Equal(t, "é\uFFFD", safetext.Clean("é\xc3", 0), "a character cut in two by a byte cap")
	cutAt := safetext.Clean(strings.Repeat("é", 100), 51)
	require.True(t, utf8.ValidString(cutAt))
	require.LessOrEqual(t, len(cutAt), 51)
	require.True(t, strings.HasSuffix(cutAt, safetext.Marker))
	require.Equal(t, "é", safetext.Clean("éé", 3), "a cap shorter than the marker still cuts on a boundary")
}

func FuzzClean(f *testing.F) {
	f.Add("hello", 10)
	f.Add("\xff\x00é", 2)
	f.Add(strings.Repeat("日本", 50), 20)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<20 {
			return
		}
		out := safetext.Clean(s, max)
		if !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("Clean(%q, %d) = %q is not clean text", s, max, out)
		}
		if max > 0 && len(out) > max {
			t.Fatalf("Clean(%q, %d) is %d bytes", s, max, len(out))
		}
	})
}
