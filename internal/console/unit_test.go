package console

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/pgxuuid"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

var known = []string{"PENDING", "ASSIGNED", "RUNNING", "DONE", "FAILED", "DEAD_LETTERED", "WAITING"}

func TestParseJobFilter(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("status=pending,waiting&status=PENDING&queue=mail&priority=0&key=k&from=2026-01-02T03:04&to=2026-01-03&q=%20x%20&sort=old&limit=7&after=" + uuid.Nil.String())
	f, err := parseJobFilter(q, known)
	require.NoError(t, err)
	require.Equal(t, []string{"PENDING", "WAITING"}, f.Statuses, "a status the database has is accepted, whether or not this build knows it")
	require.Equal(t, "mail", f.Queue)
	require.Equal(t, 0, f.Priority)
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), f.From)
	require.Equal(t, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), f.To)
	require.Equal(t, "x", f.Search)
	require.Equal(t, sortOldest, f.Sort)
	require.Equal(t, 7, f.Limit)
	require.True(t, f.filtered())

	// values() round-trips through the parser (the links keep the filter).
	again, err := parseJobFilter(f.values(), known)
	require.NoError(t, err)
	require.Equal(t, f, again)

	empty, err := parseJobFilter(url.Values{}, known)
	require.NoError(t, err)
	require.False(t, empty.filtered())
	require.Equal(t, -1, empty.Priority)
	require.Empty(t, empty.values().Encode(), "the default filter adds nothing to a link")
}

func TestJobFilter_Conditions(t *testing.T) {
	t.Parallel()
	f := &jobFilter{Statuses: []string{"DONE"}, Queue: "q", Priority: 3, Key: "k", Search: `50%_off\`, Sort: sortNewest}
	var args []any
	conds := f.conditions([]string{"a", "b"}, &args)
	require.Equal(t, []string{
		"status IN ('DONE')", "queue_name = $1", "queue_name = ANY($2)", "priority = $3", "idempotency_key = $4", "payload::text ILIKE $5",
	}, conds)
	require.Equal(t, `%50\%\_off\\%`, args[4], "LIKE wildcards in a search are literal")

	f = &jobFilter{Search: `{"a": [1]}`, Priority: -1}
	args = nil
	require.Equal(t, []string{"payload @> $1::jsonb"}, f.conditions(nil, &args))
	f = &jobFilter{Search: `{not json`, Priority: -1}
	args = nil
	require.Equal(t, []string{"payload::text ILIKE $1"}, f.conditions(nil, &args))
	require.Equal(t, "'A', 'B''C'", statusList([]string{"A", "B'C"}))
	require.Equal(t, "NULL", statusList(nil), "no status matches nothing")
}

func TestUUIDV7Floor(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(0x0123_4567_89ab)
	require.Equal(t, "01234567-89ab-0000-0000-000000000000", uuidV7Floor(at).String(), "48 bits of Unix milliseconds, then zeros")
	require.Less(t, uuidV7Floor(at.Add(-time.Millisecond)).String(), uuidV7Floor(at).String())
	require.Equal(t, uuid.Nil, uuidV7Floor(time.Time{}), "before 1970: the smallest id")

	// The ids jq.uuid_v7 gives jobs fall between the floors of their created_at (less the slack
	// for a clock stepped back) and of created_at plus the slack.
	_, store := dbReader(t)
	ids, err := store.SubmitMany(context.Background(), "default", repeat(`{}`, 5), 0)
	require.NoError(t, err)
	for _, id := range ids {
		j, err := store.GetJob(context.Background(), id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, id.String(), uuidV7Floor(j.CreatedAt.Add(-idClockStepSlack)).String())
		require.Less(t, id.String(), uuidV7Floor(j.CreatedAt.Add(idClockSlack)).String())
	}
}

func TestRoundSignificant(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]int64{0: 0, 7: 7, 999: 999, 1234: 1230, 901_499: 901_000, 1_005_000: 1_010_000} {
		require.Equal(t, want, roundSignificant(n, 3), "n=%d", n)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	require.Equal(t, "1,234,567", formatCount(1234567))
	require.Equal(t, "-1,000", formatCount(-1000))
	require.Equal(t, "12", formatCount(12))
	require.Equal(t, "250ms", formatDuration(250*time.Millisecond))
	require.Equal(t, "3m 20s", formatDuration(200*time.Second))
	require.Equal(t, "2h 5m", formatDuration(125*time.Minute))
	require.Equal(t, "3d 1h", formatDuration(73*time.Hour))
	require.Equal(t, "status status-dead-lettered", statusClass("DEAD_LETTERED"))
	require.Equal(t, "status status-snoozed-2", statusClass("SNOOZED 2"), "an unknown status gets the generic badge")
	require.Equal(t, "9a3f1c2e", shortID("01a22c79-8f54-7ddb-9343-72959a3f1c2e"))
}

func TestParseJSONTree(t *testing.T) {
	t.Parallel()
	root, err := parseJSONTree([]byte(`{"z": 1, "a": [true, null, "x\"y"], "m": {"k": 2.5e3}}`))
	require.NoError(t, err)
	require.Equal(t, "object", root.Kind)
	var keys []string
	for _, c := range root.Children {
		keys = append(keys, c.Key)
	}
	require.Equal(t, []string{"z", "a", "m"}, keys, "document order, not sorted")
	require.Equal(t, "[…] 3 items", root.Children[1].Summary())
	require.Equal(t, []string{"true", "null", `"x\"y"`}, []string{root.Children[1].Children[0].Value, root.Children[1].Children[1].Value, root.Children[1].Children[2].Value})
	require.Equal(t, "2.5e3", root.Children[2].Children[0].Value, "numbers as written")

	_, err = parseJSONTree([]byte(`{"a": 1} {"b": 2}`))
	require.Error(t, err)
	_, err = parseJSONTree([]byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)))
	require.ErrorIs(t, err, errTooBig)
	big, _ := json.Marshal(make([]int, maxTreeNodes+1))
	_, err = parseJSONTree(big)
	require.ErrorIs(t, err, errTooBig)
	require.Equal(t, "{\n  \"a\": 1\n}", indentJSON([]byte(`{"a":1}`)))
}

func TestSVGChart(t *testing.T) {
	t.Parallel()
	bars := string(svgChart(`Thr<o>ughput`, `a "summary"`, false, perMinute,
		chartSeries{Name: "done", Class: "s-done", Values: []float64{0, 3, 7}},
		chartSeries{Name: "dead", Class: "s-dead", Values: []float64{1, 0, 2}}))
	require.Contains(t, bars, `<title id="cThroughput-t">Thr&lt;o&gt;ughput</title>`)
	require.Contains(t, bars, `a &#34;summary&#34;`)
	require.Equal(t, 4, strings.Count(bars, `<rect class="bar`), "a bar per non-zero value")
	require.Contains(t, bars, `>10</text>`, "the axis tops at a round number over the tallest stack")
	require.NotContains(t, bars, "style=", "no inline style: the CSP forbids it")

	lines := string(svgChart("Latency", "", true, seconds,
		chartSeries{Name: "p50", Class: "s-p50", Values: []float64{1, 2, math.NaN(), 4, math.NaN()}}))
	require.Equal(t, 1, strings.Count(lines, "<polyline"), "a gap breaks the line")
	require.Equal(t, 1, strings.Count(lines, "<circle"), "a lone minute is a dot")
	require.Equal(t, 5.0, niceMax(4.2))
	require.Equal(t, 1.0, niceMax(0))
}

func TestSessions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := newSessions(3*time.Hour, time.Hour, clock)

	id, sess := s.create("jqk_x")
	require.Len(t, id, 43)
	require.NotEqual(t, sess.csrf, id)
	require.Same(t, sess, s.get(id))
	require.Nil(t, s.get(id+"x"))
	require.Nil(t, s.get(""))
	advance(50 * time.Minute)
	require.NotNil(t, s.get(id), "used within the idle timeout")
	advance(50 * time.Minute)
	require.NotNil(t, s.get(id))
	advance(61 * time.Minute)
	require.Nil(t, s.get(id), "idle for over an hour")

	id, _ = s.create("jqk_x")
	for range 4 {
		advance(50 * time.Minute)
		if s.get(id) == nil {
			break
		}
	}
	require.Nil(t, s.get(id), "past the TTL however busy")

	id, sess = s.create("jqk_x")
	s.setFlash(sess, "done")
	require.Equal(t, "done", s.takeFlash(sess))
	require.Empty(t, s.takeFlash(sess), "a flash shows once")
	s.delete(id)
	require.Nil(t, s.get(id))
}

func TestSessions_Bounded(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newSessions(time.Hour, time.Hour, func() time.Time { return now })
	first, _ := s.create("k")
	for range maxSessions {
		now = now.Add(time.Millisecond)
		s.create("k")
	}
	require.LessOrEqual(t, len(s.m), maxSessions)
	require.Nil(t, s.get(first), "the least recently used made room")
}

func TestCache_SharesOneLoad(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCache[int](time.Second, clock)
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (int, error) {
		<-release
		return int(loads.Add(1)), nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			v, _, err := c.get(context.Background(), "k", load)
			require.NoError(t, err)
			require.Equal(t, 1, v)
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, int64(1), loads.Load(), "concurrent misses share one load")
	v, _, _ := c.get(context.Background(), "k", load)
	require.Equal(t, 1, v, "fresh: no load")
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	v, _, _ = c.get(context.Background(), "k", load)
	require.Equal(t, 2, v, "stale: loaded again")

	_, _, err := c.get(context.Background(), "bad", func(context.Context) (int, error) { return 0, errors.New("boom") })
	require.Error(t, err)
	v, _, err = c.get(context.Background(), "bad", func(context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	require.Equal(t, 5, v, "a failed load is not kept")
}

func TestScopeOf(t *testing.T) {
	t.Parallel()
	require.Nil(t, scopeOf(&jqgrpc.Principal{Role: apikey.RoleAdmin, Queues: []string{"a"}}))
	require.Nil(t, scopeOf(&jqgrpc.Principal{Role: apikey.RoleReader}))
	require.Equal(t, []string{"a", "b"}, scopeOf(&jqgrpc.Principal{Role: apikey.RoleReader, Queues: []string{"b", "a"}}))
}

// dbReader is a reader on a fresh database.
func dbReader(t *testing.T) (*reader, *queue.Store) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testdb.New(t))
	require.NoError(t, err)
	cfg.AfterConnect = pgxuuid.Register
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &reader{pool: pool}, queue.NewStore(pool)
}

// TestCounts_Estimated: counts are exact up to the cap and estimated above it, and say so.
func TestCounts_Estimated(t *testing.T) {
	t.Parallel()
	r, store := dbReader(t)
	ctx := context.Background()
	_, err := store.SubmitMany(ctx, "default", repeat(`{}`, 30), 0)
	require.NoError(t, err)
	cc := newCountCache(r, time.Now)
	c, err := cc.get(ctx)
	require.NoError(t, err)
	require.Equal(t, count{N: 30}, c.get("default", "PENDING"))
	require.Zero(t, c.SamplePct)
	require.Contains(t, countNote(c), "Counts are exact")
	require.Equal(t, []string{"PENDING", "ASSIGNED", "RUNNING", "DONE", "FAILED", "DEAD_LETTERED", "CANCELLED", "WAITING"}, c.Statuses, "from the database's enum")

	cc = newCountCache(r, time.Now)
	cc.limit = 10
	c, err = cc.get(ctx)
	require.NoError(t, err)
	require.Equal(t, count{N: 30, Estimated: true}, c.get("default", "PENDING"), "a 100% sample of a small table: the estimate is the count")
	require.Equal(t, count{N: 0}, c.get("default", "DONE"))
	require.InDelta(t, 100, c.SamplePct, 0.001)
	note := countNote(c)
	require.Contains(t, note, "marked ≈ are estimates")
	require.Contains(t, note, "up to 10;")
	admin := &jqgrpc.Principal{Role: apikey.RoleAdmin}
	require.Equal(t, count{N: 30, Estimated: true}, c.total(admin, "PENDING"))
	other := &jqgrpc.Principal{Role: apikey.RoleReader, Queues: []string{"other"}}
	require.Equal(t, count{}, c.total(other, "PENDING"), "a scoped key counts its queues only")
}

func repeat(s string, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(s)
	}
	return out
}

// TestListQuery_UsesIndexes: the jobs list can walk an index for the default view and for
// each filter (the 1,000,000-row benchmark checks what the planner actually picks at scale).
func TestListQuery_UsesIndexes(t *testing.T) {
	t.Parallel()
	r, _ := dbReader(t)
	ctx := context.Background()
	from := time.Now().Add(-time.Hour)
	for name, f := range map[string]*jobFilter{
		"Default":     {Priority: -1, Sort: sortNewest},
		"Oldest":      {Priority: -1, Sort: sortOldest},
		"NextPage":    {Priority: -1, Sort: sortNewest, After: uuid.New()},
		"Status":      {Priority: -1, Sort: sortNewest, Statuses: []string{"DEAD_LETTERED"}},
		"QueueStatus": {Priority: -1, Sort: sortNewest, Queue: "default", Statuses: []string{"PENDING"}},
		"Created":     {Priority: -1, Sort: sortNewest, From: from, To: from.Add(time.Minute)},
	} {
		t.Run(name, func(t *testing.T) {
			sql, args := listQuery(f, nil, 51)
			plan := explain(t, r, ctx, sql, args)
			require.NotContains(t, plan, "Seq Scan", "plan:\n%s", plan)
			require.Contains(t, plan, "Index", "plan:\n%s", plan)
		})
	}
}

// TestListQuery_StatusSortInQueue: sorted by status within a queue, the list walks
// jobs_queue_status_idx (queue, status, job id) from its cursor, without sorting the queue.
func TestListQuery_StatusSortInQueue(t *testing.T) {
	t.Parallel()
	r, _ := dbReader(t)
	ctx := context.Background()
	for name, f := range map[string]*jobFilter{
		"First":    {Priority: -1, Sort: sortStatus, Queue: "default"},
		"Reversed": {Priority: -1, Sort: sortStatusDesc, Queue: "default"},
		"NextPage": {Priority: -1, Sort: sortStatus, Queue: "default", After: uuid.New(), CursorKey: "RUNNING"},
		"Back":     {Priority: -1, Sort: sortStatusDesc, Queue: "default", Before: uuid.New(), CursorKey: "PENDING"},
	} {
		t.Run(name, func(t *testing.T) {
			sql, args := listQuery(f, nil, 51)
			plan := explain(t, r, ctx, sql, args)
			require.Contains(t, plan, "jobs_queue_status_idx", "plan:\n%s", plan)
			require.NotContains(t, plan, "Sort", "plan:\n%s", plan)
		})
	}
}

// explain returns the plan of sql with sequential scans priced out, as the planner would
// choose on a large table, where they lose.
func explain(t *testing.T, r *reader, ctx context.Context, sql string, args []any) string {
	t.Helper()
	tx, err := r.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SET LOCAL enable_seqscan = off")
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
	require.NoError(t, err)
	var lines []string
	for rows.Next() {
		var l string
		require.NoError(t, rows.Scan(&l))
		lines = append(lines, l)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}

func TestFlowAndWorkflowText(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "", time.Second: "1s", time.Minute: "1m", 90 * time.Second: "1m30s", time.Hour: "1h", 1500 * time.Millisecond: "1.5s"} {
		require.Equal(t, want, shortDuration(d), "%v", d)
	}
	require.Equal(t, "no limit", limitsText(0, 0, 0, 0))
	require.Equal(t, "at most 5 running, at most 10 starts per 1m, at most 2 running per key", limitsText(5, 10, time.Minute, 2))
	require.Equal(t, "at most 3 starts per 1s", limitsText(0, 3, time.Second, 0))
	require.Equal(t, "exit status 1 …", firstLine("exit status 1\nstack", 200))
	require.Equal(t, "ééé…", firstLine("éééé", 7), "cut on a character boundary")
	require.Equal(t, "42.5", formatPercent(42.46))
	require.Equal(t, "100", formatPercent(100))
}
