package queuename_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue/queuename"
)

func TestValid(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"default": true, "emails.high": true, "a:b-c_d": true, "9": true,
		"": false, "-x": false, ".x": false, "has space": false, "ünïcode": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		require.Equal(t, want, queuename.Valid(name), "Valid(%q)", name)
	}
}

// The SQL API enforces the same rule: the schema's CHECK constraint and jq.create_queue must
// carry the very pattern Go uses, or the two would disagree about which names exist.
func TestPattern_SameInSQL(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../db/migrations/*_schema.sql")
	require.NoError(t, err)
	files = append(files, "../../sqlfuncs/08_queues.sql")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Contains(t, string(data), "'"+queuename.Pattern+"'", "%s must use queuename.Pattern", f)
	}
}
