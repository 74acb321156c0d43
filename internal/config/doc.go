// Package config holds the typed configuration shared by the jq binaries and loads it from, in
// increasing precedence, built-in defaults, one YAML file, JQ_* environment variables and flags.
//
// Every leaf field names its YAML key and its environment variable in its struct tags; that tag
// set is the one place the mapping is documented (docs/config.md is generated from it by
// `jq-server config-docs`, and a test checks they agree).
package config
