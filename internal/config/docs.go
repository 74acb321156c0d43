package config

import (
	"fmt"
	"strings"
)

// Markdown renders the reference of every setting: its YAML path, environment variable,
// type, default (of jq-server; the worker's listener ports differ) and meaning. docs/config.md
// is this output; a test keeps the two equal.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from internal/config by `make generate`. DO NOT EDIT. -->\n\n")
	b.WriteString("Every binary reads one YAML file (`--config` or `JQ_CONFIG`), then the environment, then its\n")
	b.WriteString("flags; each later source wins. Durations are Go durations (`500ms`, `30s`, `168h`); lists are\n")
	b.WriteString("YAML sequences in the file and comma-separated in the environment. Unknown keys in the file\n")
	b.WriteString("are errors. Secrets (marked below) belong in the environment; set in the file, they are\n")
	b.WriteString("accepted with a warning. jq-worker listens for metrics on 9091 and health on 8081 by default.\n\n")
	section := ""
	for _, f := range Default(ServiceServer).Fields() {
		sec, _, _ := strings.Cut(f.Path, ".")
		if sec != section {
			section = sec
			fmt.Fprintf(&b, "\n## %s\n\n| key | env | type | default | meaning |\n| --- | --- | --- | --- | --- |\n", sec)
		}
		def := f.String()
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		help := f.Help
		if f.Secret {
			help += " **(secret: use the environment)**"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", f.Path, f.Env, f.Kind(), def, strings.ReplaceAll(help, "|", "\\|"))
	}
	b.WriteString(schedulesMarkdown())
	return b.String()
}
