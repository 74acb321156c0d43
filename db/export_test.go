package db

import "io/fs"

// NewMigratorFS is NewMigrator on other migration files ("migrations/*.sql" in fsys), for the
// tests that apply them one at a time.
func NewMigratorFS(connString string, fsys fs.FS) *Migrator {
	m, err := NewMigrator(connString, nil)
	if err != nil {
		panic(err)
	}
	m.fsys = fsys
	return m
}
