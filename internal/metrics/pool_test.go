package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/metrics"
)

func TestPoolCollector(t *testing.T) {
	t.Parallel()

	// A pool that never connects: pgxpool opens connections lazily, and its statistics need
	// no server. MaxConns is what the collector must report.
	pc, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	pc.MaxConns = 7
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	c := metrics.NewPoolCollector(pool.Stat)

	t.Run("ReportsTheStat", func(t *testing.T) {
		t.Parallel()
		want := `
# HELP jq_db_pool_max_connections Most connections the pool may open (db.max_conns).
# TYPE jq_db_pool_max_connections gauge
jq_db_pool_max_connections 7
# HELP jq_db_pool_acquired_connections Pool connections in use by a query or transaction.
# TYPE jq_db_pool_acquired_connections gauge
jq_db_pool_acquired_connections 0
`
		require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
			"jq_db_pool_max_connections", "jq_db_pool_acquired_connections"))
	})

	t.Run("EveryNameDescribedIsCollectedAndLints", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		require.NoError(t, err)
		require.Len(t, mfs, 11)
		for _, mf := range mfs {
			require.Truef(t, strings.HasPrefix(mf.GetName(), "jq_db_pool_"), "got %s, want prefix jq_db_pool_", mf.GetName())
		}
		problems, err := testutil.GatherAndLint(reg)
		require.NoError(t, err)
		require.Empty(t, problems)
	})
}
