package queue

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// PGHealth is what PostgreSQL's statistics say about the health of a queue database: how
// much dead space vacuum has to reclaim, and what stops it.
type PGHealth struct {
	// Tables are the tables of the jq schema.
	Tables []TableHealth
	// Horizon lists what holds back vacuum's horizon, one entry per kind of holder that can
	// (backend, prepared_xact, replication_slot), with zeros when none does.
	Horizon []HorizonHolder
	// DatabaseXIDAge is age(datfrozenxid) of the current database.
	DatabaseXIDAge int64
}

// TableHealth is one row of pg_stat_user_tables.
type TableHealth struct {
	Table      string
	LiveTuples int64
	DeadTuples int64
	// LastVacuum and LastAutovacuum are Unix seconds, 0 when never.
	LastVacuum     float64
	LastAutovacuum float64
}

// HorizonHolder is the oldest transaction of one kind that keeps vacuum from removing the rows
// it could still see.
type HorizonHolder struct {
	Holder string
	// XIDAge is age() of its xmin or xid, in transactions; 0 when none holds the horizon.
	XIDAge int64
	// Seconds is how long it has been open; HasSeconds is false for holders without a start
	// time (replication slots).
	Seconds    float64
	HasSeconds bool
}

// The statistics queries. pg_stat_activity hides another role's xact_start unless the jq role
// has pg_read_all_stats (pg_monitor includes it); backend_xmin and backend_xid are visible to
// all, so the age in transactions is right even then. Our own backend holds a snapshot while
// it reads and is left out, as are autovacuum workers, whose xmin other vacuums ignore.
// Sessions of other databases do not hold back this one's tables; walsenders (datname NULL)
// do, through hot_standby_feedback.
const (
	sqlTableHealth = `
		SELECT relname, n_live_tup, n_dead_tup,
			coalesce(extract(epoch FROM last_vacuum), 0)::float8,
			coalesce(extract(epoch FROM last_autovacuum), 0)::float8
		FROM pg_stat_user_tables
		WHERE schemaname = 'jq'
		ORDER BY relname`
	sqlHorizon = `
		SELECT 'backend', coalesce(max(greatest(age(backend_xmin), age(backend_xid))), 0)::int8,
			coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8, true
		FROM pg_stat_activity
		WHERE pid <> pg_backend_pid()
			AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
			AND backend_type <> 'autovacuum worker'
			AND (datname = current_database() OR datname IS NULL)
		UNION ALL
		SELECT 'prepared_xact', coalesce(max(age(transaction)), 0)::int8,
			coalesce(max(extract(epoch FROM now() - prepared)), 0)::float8, true
		FROM pg_prepared_xacts
		WHERE database = current_database()
		UNION ALL
		SELECT 'replication_slot', coalesce(max(age(xmin)), 0)::int8, 0::float8, false
		FROM pg_replication_slots
		WHERE xmin IS NOT NULL`
	sqlDatabaseXIDAge = `SELECT age(datfrozenxid)::int8 FROM pg_database WHERE datname = current_database()`
)

// PGHealth reads the vacuum-related statistics in one round trip. It only reads catalog
// views: cheap, and it takes no lock a queue query could wait on.
func (s *Store) PGHealth(ctx context.Context) (*PGHealth, error) {
	var h PGHealth
	err := s.observe(ctx, "pg_health", func(ctx context.Context) error {
		h = PGHealth{}
		batch := &pgx.Batch{}
		batch.Queue(sqlTableHealth).Query(func(rows pgx.Rows) error {
			var err error
			h.Tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableHealth, error) {
				var t TableHealth
				err := r.Scan(&t.Table, &t.LiveTuples, &t.DeadTuples, &t.LastVacuum, &t.LastAutovacuum)
				return t, err
			})
			return err
		})
		batch.Queue(sqlHorizon).Query(func(rows pgx.Rows) error {
			var err error
			h.Horizon, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HorizonHolder, error) {
				var hh HorizonHolder
				err := r.Scan(&hh.Holder, &hh.XIDAge, &hh.Seconds, &hh.HasSeconds)
				return hh, err
			})
			return err
		})
		batch.Queue(sqlDatabaseXIDAge).QueryRow(func(row pgx.Row) error {
			return row.Scan(&h.DatabaseXIDAge)
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, err
	}
	return &h, nil
}
