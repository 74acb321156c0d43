package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCtl_LinksNoServer: jq-ctl is a client. It links neither jq-server's packages (the queue,
// the gRPC services, the outbox's Kafka sink, the migrations) nor PostgreSQL's driver nor Redis;
// `events tail` decodes records with package eventjson alone.
func TestCtl_LinksNoServer(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/jqhq/jq/cmd/jq-ctl").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/jqhq/jq/client", "the listing is jq-ctl's")
	banned := map[string]bool{"github.com/jqhq/jq/queue": true, "github.com/jqhq/jq/internal/events": true, "github.com/jqhq/jq/db": true}
	for _, dep := range deps {
		require.False(t, banned[dep], "jq-ctl links %s", dep)
		for _, prefix := range []string{"github.com/jackc/", "github.com/jqhq/jq/grpc", "github.com/jqhq/jq/internal/server",
			"github.com/redis/", "github.com/amacneil/dbmate"} {
			require.False(t, strings.HasPrefix(dep, prefix), "jq-ctl links %s", dep)
		}
	}
}
