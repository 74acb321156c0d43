package pgxuuid_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/pgxuuid"
	"github.com/jqhq/jq/internal/testdb"
)

// TestRoundTrip sends ids, arrays of ids and NULLs to PostgreSQL and reads them back, in the
// binary format the codec adds.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.AdminURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	require.NoError(t, pgxuuid.Register(ctx, conn))

	id := uuid.New()
	var text string
	var back uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid::text, $1::uuid`, id).Scan(&text, &back))
	require.Equal(t, id.String(), text, "PostgreSQL received the right 16 bytes")
	require.Equal(t, id, back)

	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	var texts []string
	var backs []uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid[]::text[], $1::uuid[]`, ids).Scan(&texts, &backs))
	require.Equal(t, []string{ids[0].String(), ids[1].String(), ids[2].String()}, texts)
	require.Equal(t, ids, backs)

	var null *uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&null))
	require.Nil(t, null)
	require.ErrorContains(t, conn.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&back), "NULL")

	// Other types the default codec handles keep working.
	var pg pgtype.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid`, id).Scan(&pg))
	require.Equal(t, [16]byte(id), pg.Bytes)
	var s string
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid`, id.String()).Scan(&s))
	require.Equal(t, id.String(), s)
}

// BenchmarkEncodeIDs compares sending 500 ids as jq.start does, with and without the codec.
func BenchmarkEncodeIDs(b *testing.B) {
	ids := make([]uuid.UUID, 500)
	for i := range ids {
		ids[i] = uuid.New()
	}
	for _, tc := range []struct {
		name     string
		register bool
	}{{"Valuer", false}, {"Binary", true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := pgtype.NewMap()
			if tc.register {
				pgxuuid.RegisterMap(m)
			}
			var buf []byte
			for b.Loop() {
				var err error
				buf, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf[:0])
				require.NoError(b, err)
			}
		})
	}
}
