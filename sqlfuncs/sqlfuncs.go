// Package sqlfuncs holds jq's SQL API: the PL/pgSQL functions that perform every job state
// change, one .sql file per concern. They reach the database through a migration generated
// from these files (see Migration), so the files are the source and the migrations the
// history.
package sqlfuncs

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

//go:embed *.sql
var files embed.FS

// File is one .sql file of the API.
type File struct {
	Name string
	SQL  string
}

// Files returns the API's files in the order they are applied.
func Files() []File {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	out := make([]File, 0, len(entries))
	for _, e := range entries {
		data, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, File{Name: e.Name(), SQL: string(data)})
	}
	return out
}

var functionName = regexp.MustCompile(`(?m)^CREATE OR REPLACE FUNCTION (jq\.[a-z0-9_]+)\(`)

// Functions lists the qualified names of the functions the files define, in file order.
func Functions() []string {
	var names []string
	for _, f := range Files() {
		for _, m := range functionName.FindAllStringSubmatch(f.SQL, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// Migration renders the dbmate migration that installs the current functions: every file in
// order on the way up, and the functions dropped on the way down.
func Migration() string {
	var b strings.Builder
	b.WriteString("-- Code generated from sqlfuncs/*.sql by `make generate`. DO NOT EDIT.\n")
	b.WriteString("-- Change the functions in sqlfuncs/; once this migration has been released, add a new\n")
	b.WriteString("-- *_sqlfuncs.sql migration rather than regenerating this one (see db/README.md).\n\n")
	b.WriteString("-- migrate:up\n")
	for _, f := range Files() {
		fmt.Fprintf(&b, "\n-- sqlfuncs/%s\n\n%s", f.Name, strings.TrimLeft(f.SQL, "\n"))
		if !strings.HasSuffix(f.SQL, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n-- migrate:down\n\n")
	names := Functions()
	slices.Reverse(names)
	for _, n := range names {
		fmt.Fprintf(&b, "DROP FUNCTION IF EXISTS %s;\n", n)
	}
	return b.String()
}
