package db_test

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testdb"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// TestSQLDocExamples runs every ```sql block of docs/sql.md, in order, on a fresh database:
// the documented API is the API.
func TestSQLDocExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/sql.md")
	require.NoError(t, err)
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(blocks), 8)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.New(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	for i, b := range blocks {
		// The simple protocol runs a block of several statements as psql would.
		_, err := conn.PgConn().Exec(ctx, b[1]).ReadAll()
		require.NoError(t, err, "block %d of docs/sql.md:\n%s", i+1, b[1])
	}

	// The walkthrough leaves the trail it describes.
	var done, welcome int
	require.NoError(t, conn.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE status = 'DONE' AND result = 'hello'),
		count(*) FILTER (WHERE idempotency_key LIKE 'welcome-%')
		FROM jq.jobs`).Scan(&done, &welcome))
	require.Equal(t, 1, done)
	require.Equal(t, 2, welcome, "one from the idempotent submit, one from the trigger")
	var reasons []string
	rows, err := conn.Query(ctx, `SELECT reason FROM jq.job_events
		WHERE reason IN ('RETRY', 'CANCELLED', 'MANUAL_RETRY', 'DEREGISTERED') ORDER BY id`)
	require.NoError(t, err)
	reasons, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Greater(t, len(reasons), 3)
	require.Equal(t, []string{"RETRY", "CANCELLED", "MANUAL_RETRY"}, reasons[:3])
	for _, r := range reasons[3:] {
		require.Equal(t, "CANCELLED", r, "then the bulk cancel's")
	}
	var pending int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE queue_name = 'emails' AND status = 'PENDING'`).Scan(&pending))
	require.Zero(t, pending, "the bulk cancel left no PENDING job in emails")

	// The scheduling walkthrough: one job per unique key, the workflow's cancel went down the
	// DAG as described, the progress stayed on the completed job, the trigger fired once.
	var uniques, cancelledByParent, runAnyway, waiting, triggered int
	var progress float64
	require.NoError(t, conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM jq.jobs WHERE unique_key = 'sync-42'),
		(SELECT count(*) FROM jq.job_events WHERE reason = 'DEPENDENCY_FAILED'),
		(SELECT count(*) FROM jq.workflow_jobs w JOIN jq.jobs j USING (job_id) WHERE w.node = 'load' AND j.status = 'PENDING'),
		(SELECT count(*) FROM jq.jobs WHERE status = 'WAITING'),
		(SELECT count(*) FROM jq.schedule_fires WHERE outcome = 'triggered'),
		(SELECT progress FROM jq.jobs WHERE unique_key = 'sync-42')`).
		Scan(&uniques, &cancelledByParent, &runAnyway, &waiting, &triggered, &progress))
	require.Equal(t, 1, uniques)
	require.Equal(t, 1, cancelledByParent, "transform, cancelled with extract")
	require.Equal(t, 1, runAnyway, "load runs anyway")
	require.Equal(t, 1, waiting, "publish waits for load")
	require.Equal(t, 1, triggered)
	require.InDelta(t, 42, progress, 0)
}
