package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

func TestStore_PGHealth(t *testing.T) {
	t.Parallel()

	t.Run("ReadsTablesAndHorizon", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.submit(t, queue.SubmitParams{})

		h, err := b.store.PGHealth(b.ctx)
		require.NoError(t, err)
		tables := map[string]queue.TableHealth{}
		for _, th := range h.Tables {
			tables[th.Table] = th
		}
		require.Contains(t, tables, "jobs")
		require.Contains(t, tables, "job_events")
		var holders []string
		for _, hh := range h.Horizon {
			holders = append(holders, hh.Holder)
		}
		require.Equal(t, []string{"backend", "prepared_xact", "replication_slot"}, holders)
		require.Positive(t, h.DatabaseXIDAge, "a migrated database has consumed transaction ids")
	})

	t.Run("SeesAnOpenTransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// A transaction that took an xid and a snapshot, then sits idle: the classic
		// forgotten BEGIN that stops vacuum.
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.Background()) }()
		_, err = tx.Exec(b.ctx, "SELECT txid_current()")
		require.NoError(t, err)
		// Burn a few transaction ids so that the open one has an age.
		for range 3 {
			_, err := b.pool.Exec(b.ctx, "SELECT txid_current()")
			require.NoError(t, err)
		}
		time.Sleep(20 * time.Millisecond) // deliberate: the open transaction gets an age in seconds

		h, err := b.store.PGHealth(b.ctx)
		require.NoError(t, err)
		backend := h.Horizon[0]
		require.Equal(t, "backend", backend.Holder)
		require.GreaterOrEqual(t, backend.XIDAge, int64(3), "got xid age %d, want the open transaction's", backend.XIDAge)
		require.True(t, backend.HasSeconds)
		require.Greater(t, backend.Seconds, 0.01, "got %v s, want the open transaction's age", backend.Seconds)
	})

	t.Run("CanceledContextFails", func(t *testing.T) {
		t.Parallel()
		store := queue.NewStore(testdb.Pool(t))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := store.PGHealth(ctx)
		require.Error(t, err)
	})
}

// pgHealthGauges returns a fresh set of the reporter's gauges.
func pgHealthGauges() queue.PGHealthMetrics {
	vec := func(label string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g"}, []string{label})
	}
	return queue.PGHealthMetrics{
		Up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "up"}), TableDeadTuples: vec("table"), TableLiveTuples: vec("table"),
		TableLastVacuum: vec("table"), TableLastAutovacuum: vec("table"), XminAgeSeconds: vec("holder"), XminAgeXIDs: vec("holder"),
		DatabaseXIDAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "age"}),
	}
}

func TestPGHealthReporter_Refresh(t *testing.T) {
	t.Parallel()

	health := &queue.PGHealth{
		Tables: []queue.TableHealth{
			{Table: "jobs", LiveTuples: 10, DeadTuples: 5, LastAutovacuum: 1.7e9},
			{Table: "job_events", LiveTuples: 20, DeadTuples: 1},
		},
		Horizon: []queue.HorizonHolder{
			{Holder: "backend", XIDAge: 42, Seconds: 90, HasSeconds: true},
			{Holder: "replication_slot", XIDAge: 7},
		},
		DatabaseXIDAge: 1234,
	}

	t.Run("SetsEveryGauge", func(t *testing.T) {
		t.Parallel()
		m := pgHealthGauges()
		r := queue.NewPGHealthReporter(func(context.Context) (*queue.PGHealth, error) { return health, nil }, m, time.Second, logging.Discard())
		r.Refresh(context.Background())

		require.InDelta(t, 1, testutil.ToFloat64(m.Up), 0)
		require.InDelta(t, 5, testutil.ToFloat64(m.TableDeadTuples.WithLabelValues("jobs")), 0)
		require.InDelta(t, 20, testutil.ToFloat64(m.TableLiveTuples.WithLabelValues("job_events")), 0)
		require.InDelta(t, 1.7e9, testutil.ToFloat64(m.TableLastAutovacuum.WithLabelValues("jobs")), 0)
		require.InDelta(t, 90, testutil.ToFloat64(m.XminAgeSeconds.WithLabelValues("backend")), 0)
		require.InDelta(t, 7, testutil.ToFloat64(m.XminAgeXIDs.WithLabelValues("replication_slot")), 0)
		require.InDelta(t, 1234, testutil.ToFloat64(m.DatabaseXIDAge), 0)
		// A slot has no start time: no seconds series rather than a false 0.
		require.Equal(t, 1, testutil.CollectAndCount(m.XminAgeSeconds))
	})

	t.Run("FailureKeepsValuesAndDropsUp", func(t *testing.T) {
		t.Parallel()
		m := pgHealthGauges()
		fail := false
		r := queue.NewPGHealthReporter(func(context.Context) (*queue.PGHealth, error) {
			if fail {
				return nil, errors.New("connection refused")
			}
			return health, nil
		}, m, time.Second, logging.Discard())
		r.Refresh(context.Background())
		fail = true
		r.Refresh(context.Background())

		require.InDelta(t, 0, testutil.ToFloat64(m.Up), 0)
		require.InDelta(t, 5, testutil.ToFloat64(m.TableDeadTuples.WithLabelValues("jobs")), 0)
		fail = false
		r.Refresh(context.Background())
		require.InDelta(t, 1, testutil.ToFloat64(m.Up), 0)
	})

	t.Run("DroppedTableLosesItsSeries", func(t *testing.T) {
		t.Parallel()
		m := pgHealthGauges()
		current := health
		r := queue.NewPGHealthReporter(func(context.Context) (*queue.PGHealth, error) { return current, nil }, m, time.Second, logging.Discard())
		r.Refresh(context.Background())
		require.Equal(t, 2, testutil.CollectAndCount(m.TableDeadTuples))

		current = &queue.PGHealth{Tables: health.Tables[:1], Horizon: health.Horizon}
		r.Refresh(context.Background())
		require.Equal(t, 1, testutil.CollectAndCount(m.TableDeadTuples))
	})

	t.Run("ReadHasADeadline", func(t *testing.T) {
		t.Parallel()
		m := pgHealthGauges()
		r := queue.NewPGHealthReporter(func(ctx context.Context) (*queue.PGHealth, error) {
			<-ctx.Done() // a database that never answers
			return nil, ctx.Err()
		}, m, 50*time.Millisecond, logging.Discard())
		done := make(chan struct{})
		go func() { r.Refresh(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Refresh did not return: the read has no deadline")
		}
		require.InDelta(t, 0, testutil.ToFloat64(m.Up), 0)
	})
}
