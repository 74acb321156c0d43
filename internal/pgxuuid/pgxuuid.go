// Package pgxuuid makes pgx send and read github.com/google/uuid ids in binary. Upstream,
// github.com/jackc/pgx-google-uuid does the same; the module proxy this project builds from
// does not serve it (403 on 2026-11-27), so this is the small part of it jq needs.
package pgxuuid

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Register teaches a connection to send and read uuid.UUID in PostgreSQL's binary format
// (16 bytes). Without it pgx goes through uuid.UUID's driver.Valuer and sql.Scanner: every id
// is formatted as 36 characters of text and parsed back, which was an eighth of jq-server's
// CPU under load. Set it as pgxpool.Config.AfterConnect of every pool jq opens.
func Register(_ context.Context, conn *pgx.Conn) error {
	RegisterMap(conn.TypeMap())
	return nil
}

// RegisterMap registers the codec of uuid and uuid[] in m.
func RegisterMap(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
}

// uuidCodec is pgx's UUID codec plus binary plans for uuid.UUID.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return encodeUUIDPlan{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return scanUUIDPlan{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUIDPlan struct{}

func (encodeUUIDPlan) Encode(value any, buf []byte) ([]byte, error) {
	id := value.(uuid.UUID)
	return append(buf, id[:]...), nil
}

type scanUUIDPlan struct{}

func (scanUUIDPlan) Scan(src []byte, target any) error {
	if src == nil {
		return fmt.Errorf("cannot scan NULL into %T", target)
	}
	if len(src) != len(uuid.UUID{}) {
		return fmt.Errorf("invalid length for uuid: %d bytes", len(src))
	}
	copy(target.(*uuid.UUID)[:], src)
	return nil
}
