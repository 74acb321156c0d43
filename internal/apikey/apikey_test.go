package apikey_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
)

func TestGenerate_FormAndChecksum(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		k := apikey.Generate()
		require.Len(t, k, apikey.Len)
		require.True(t, strings.HasPrefix(k, "jqk_"))
		require.NoError(t, apikey.Check(k))
		require.False(t, seen[k], "duplicate key")
		seen[k] = true
	}
}

func TestCheck_RefusesNearMisses(t *testing.T) {
	t.Parallel()
	k := apikey.Generate()
	flipped := []byte(k)
	if flipped[10] == 'a' {
		flipped[10] = 'b'
	} else {
		flipped[10] = 'a'
	}
	for name, s := range map[string]string{
		"Empty":     "",
		"NoPrefix":  "xxx_" + k[4:],
		"Truncated": k[:len(k)-1],
		"Longer":    k + "0",
		"Typo":      string(flipped),
		"BadChar":   k[:20] + "-" + k[21:],
		"Spaces":    " " + k[1:],
	} {
		require.Error(t, apikey.Check(s), name)
	}
}

func TestDisplay_HidesTheSecret(t *testing.T) {
	t.Parallel()
	k := apikey.Generate()
	d := apikey.Display(k)
	require.Len(t, d, 12)
	require.True(t, strings.HasPrefix(k, d))
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, r := range apikey.Roles {
		got, err := apikey.ParseRole(string(r))
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := apikey.ParseRole("root")
	require.ErrorContains(t, err, "admin, submitter, worker, reader")
}

func FuzzCheck(f *testing.F) {
	f.Add(apikey.Generate())
	f.Add("jqk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if apikey.Check(s) == nil {
			// Anything accepted has the exact form of a key.
			require.Len(t, s, apikey.Len)
			require.True(t, strings.HasPrefix(s, apikey.Prefix))
		}
	})
}
