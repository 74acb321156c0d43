package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source says where a configuration comes from, beyond the defaults.
type Source struct {
	// File is the YAML file to read; empty reads none.
	File string
	// LookupEnv reads environment variables; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Flags maps dotted paths to the values of flags given on the command line; they win
	// over everything else.
	Flags map[string]string
}

// Load builds the configuration of a service from defaults, the file, the environment and the
// flags, in that order of increasing precedence. It returns warnings meant for the log (a secret
// kept in the file) and an error listing every problem it met: unknown keys in the file, values
// of the wrong type, unparsable environment variables. Load does not Validate.
func Load(service Service, src Source) (*Config, []string, error) {
	cfg := Default(service)
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var problems, warnings []string

	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return nil, nil, fmt.Errorf("read config file: %w", err)
		}
		w, err := decodeFile(cfg, data)
		if err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", src.File, err)
		}
		warnings = append(warnings, w...)
	}

	for _, f := range cfg.Fields() {
		val, ok := lookup(f.Env)
		if !ok {
			continue
		}
		if err := f.Set(val); err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", f.Env, f.Path, err))
		}
	}

	paths := make([]string, 0, len(src.Flags))
	for p := range src.Flags {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f, ok := cfg.Field(p)
		if !ok {
			problems = append(problems, fmt.Sprintf("flag for unknown setting %s", p))
			continue
		}
		if err := f.Set(src.Flags[p]); err != nil {
			problems = append(problems, fmt.Sprintf("flag for %s: %v", p, err))
		}
	}

	if len(problems) > 0 {
		return nil, warnings, &Error{Problems: problems}
	}
	return cfg, warnings, nil
}

// decodeFile reads YAML into cfg, refusing unknown keys (a typo must not pass silently), and
// returns a warning for every secret kept in the file.
func decodeFile(cfg *Config, data []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of sections (grpc, db, ...)", root.Line)
	}
	if unknown := unknownKeys(root, reflect.TypeFor[Config](), ""); len(unknown) > 0 {
		return nil, &Error{Problems: unknown}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, err
	}

	var warnings []string
	set := map[string]bool{}
	keysInFile(root, "", set)
	for _, f := range cfg.Fields() {
		if !f.Secret || !set[f.Path] || f.IsZero() {
			continue
		}
		if f.secretIfURLHasPassword && !urlHasPassword(f.String()) {
			continue
		}
		warnings = append(warnings, fmt.Sprintf(
			"%s is set in the config file; keep secrets out of files and set %s instead", f.Path, f.Env))
	}
	return warnings, nil
}

// unknownKeys lists the keys of node that t has no field for, with their full path and line.
func unknownKeys(node *yaml.Node, t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		path := key.Value
		if prefix != "" {
			path = prefix + "." + key.Value
		}
		sf, ok := fieldByYAMLKey(t, key.Value)
		if !ok {
			msg := fmt.Sprintf("line %d: unknown key %s", key.Line, path)
			if s := suggest(key.Value, yamlKeys(t)); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			out = append(out, msg)
			continue
		}
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType && val.Kind == yaml.MappingNode {
			out = append(out, unknownKeys(val, sf.Type, path)...)
		}
	}
	return out
}

func keysInFile(node *yaml.Node, prefix string, set map[string]bool) {
	for i := 0; i+1 < len(node.Content); i += 2 {
		path := node.Content[i].Value
		if prefix != "" {
			path = prefix + "." + path
		}
		set[path] = true
		if node.Content[i+1].Kind == yaml.MappingNode {
			keysInFile(node.Content[i+1], path, set)
		}
	}
}

func fieldByYAMLKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlKey(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func yamlKeys(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, yamlKey(t.Field(i)))
	}
	return keys
}

// suggest returns the candidate closest to s when it is close enough to be a typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func urlHasPassword(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// Error lists every problem found in a configuration.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0]
	}
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Problems returns the problems of a configuration error, or nil when err is not one.
func Problems(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return nil
}
