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

// Functions lists the qualified names of the functions the files define, in file order.
func Functions() []string {
	var names []string
	for _, f := range Files() {
		for _, m := range createFunction.FindAllStringSubmatch(f.SQL, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// Migration renders the dbmate migration that installs the current functions over those of
// previous, the text of the sqlfuncs migration before it ("" for the first one).
//
// Up drops the functions whose header (arguments or result) changed or that are gone (CREATE OR
// REPLACE cannot change either), then runs every file in order. Down drops what up created with
// a new header and restores the functions exactly as previous left them, so that rolling back
// any number of these migrations leaves the functions of the one before. The first migration has
// nothing to restore: its down drops every function (the schema migration before it then drops
// the tables).
func Migration(previous string) string {
	cur := Headers(Files())
	var b strings.Builder
	b.WriteString("-- Code generated from sqlfuncs/*.sql by `make generate`. DO NOT EDIT.\n")
	b.WriteString("-- Change the functions in sqlfuncs/; once this migration has been released, add a new\n")
	b.WriteString("-- *_sqlfuncs.sql migration rather than regenerating this one (see db/README.md).\n\n")
	b.WriteString("-- migrate:up\n")
	var prev map[string]string
	prevFiles := ""
	if previous != "" {
		prevFiles = filesPart(previous)
		prev = headersOf(prevFiles)
		dropped := changed(prev, cur)
		if len(dropped) > 0 {
			b.WriteString("\n-- Functions whose header changed or that are gone: CREATE OR REPLACE cannot change them.\n")
			for _, h := range dropped {
				fmt.Fprintf(&b, "DROP FUNCTION IF EXISTS %s;\n", dropSignature(prev[h]))
			}
		}
	}
	for _, f := range Files() {
		fmt.Fprintf(&b, "\n-- sqlfuncs/%s\n\n%s", f.Name, strings.TrimLeft(f.SQL, "\n"))
		if !strings.HasSuffix(f.SQL, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n-- migrate:down\n\n")
	if previous == "" {
		names := Functions()
		slices.Reverse(names)
		for _, n := range names {
			fmt.Fprintf(&b, "DROP FUNCTION IF EXISTS %s;\n", n)
		}
		return b.String()
	}
	added := changed(cur, prev)
	if len(added) > 0 {
		b.WriteString("-- Functions this migration added or gave a new header.\n")
		for _, h := range added {
			fmt.Fprintf(&b, "DROP FUNCTION IF EXISTS %s;\n", dropSignature(cur[h]))
		}
		b.WriteString("\n")
	}
	b.WriteString("-- The functions as the previous sqlfuncs migration left them.\n")
	b.WriteString(prevFiles)
	return b.String()
}

// filesPart is the SQL of the files in a rendered migration: from the first file's marker to
// the down section.
func filesPart(migration string) string {
	up, _, _ := strings.Cut(migration, "\n-- migrate:down\n")
	i := strings.Index(up, "\n-- sqlfuncs/")
	if i < 0 {
		return ""
	}
	return strings.TrimLeft(up[i:], "\n") + "\n"
}

// Headers maps each function's header (name, arguments and result, whitespace normalised) to
// itself, for the files given.
func Headers(files []File) map[string]string {
	var all strings.Builder
	for _, f := range files {
		all.WriteString(f.SQL)
		all.WriteString("\n")
	}
	return headersOf(all.String())
}

var createFunction = regexp.MustCompile(`(?m)^CREATE OR REPLACE FUNCTION (jq\.[a-z0-9_]+)\(`)

// headersOf finds the header of every function sql creates: "jq.name(args) RETURNS type".
func headersOf(sql string) map[string]string {
	out := map[string]string{}
	for _, m := range createFunction.FindAllStringSubmatchIndex(sql, -1) {
		open := m[1] - 1
		end := matchingParen(sql, open)
		if end < 0 {
			continue
		}
		rest := sql[end+1:]
		ret := ""
		if i := strings.Index(rest, "LANGUAGE"); i >= 0 {
			ret = rest[:i]
		}
		h := strings.Join(strings.Fields(sql[m[2]:m[3]]+"("+sql[open+1:end]+") "+ret), " ")
		out[h] = h
	}
	return out
}

// changed lists the headers of a that b does not have, sorted.
func changed(a, b map[string]string) []string {
	var out []string
	for h := range a {
		if _, ok := b[h]; !ok {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// matchingParen returns the index of the parenthesis closing the one at open, or -1.
func matchingParen(s string, open int) int {
	depth := 0
	inQuote := false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

var argDefault = regexp.MustCompile(`(?is)\s+(DEFAULT\b|=).*$`)

// dropSignature turns a header into what DROP FUNCTION takes: the name and the arguments
// without their defaults.
func dropSignature(header string) string {
	open := strings.IndexByte(header, '(')
	end := matchingParen(header, open)
	var args []string
	for _, a := range splitTopLevel(header[open+1 : end]) {
		if a = strings.TrimSpace(argDefault.ReplaceAllString(a, "")); a != "" {
			args = append(args, a)
		}
	}
	return header[:open] + "(" + strings.Join(args, ", ") + ")"
}

// splitTopLevel splits s at the commas outside parentheses and quotes.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
