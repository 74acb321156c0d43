package worker_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorker_LinksNoServer: a program that embeds the worker does not link jq-server, nor
// PostgreSQL's driver.
func TestWorker_LinksNoServer(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/jqhq/jq/worker", "github.com/jqhq/jq/client").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/", "github.com/jqhq/jq/queue", "github.com/jqhq/jq/grpc",
			"github.com/jqhq/jq/internal/server", "github.com/redis/", "github.com/twmb/franz-go"} {
			require.False(t, strings.HasPrefix(dep, banned) && dep != "github.com/jqhq/jq/queue/queuename",
				"the worker links %s", dep)
		}
	}
}
