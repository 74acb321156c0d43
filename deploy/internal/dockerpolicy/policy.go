// Package dockerpolicy checks a Dockerfile of a jq image against the rules the images must keep
// (docs/deploy.md, "Images"): a multi-stage build whose Go stage builds static, reproducible
// binaries with BuildKit caches, and a small final stage that runs as a numeric non-root user
// through an exec-form ENTRYPOINT, with OCI labels and no build tools. Every base image is
// pinned by tag and digest, and nothing is fetched with ADD from the network.
//
// The Dockerfile is read with BuildKit's own parser (frontend/dockerfile/parser and
// instructions), so what is checked is what `docker build` would run.
package dockerpolicy

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Rules are the per-image parameters of the policy.
type Rules struct {
	// UID is the user id the final stage must run as.
	UID int
	// LDFlags is the -ldflags value `go build` must be given, with variables written $NAME
	// (the Makefile's `$(VERSION)` and the Dockerfile's `${VERSION}` both normalise to it).
	// Empty skips the comparison.
	LDFlags []string
	// RequiredLabels are the labels the final stage must set to a non-empty value.
	RequiredLabels []string
}

// OCILabels are the labels every jq image carries.
var OCILabels = []string{
	"org.opencontainers.image.source",
	"org.opencontainers.image.revision",
	"org.opencontainers.image.version",
	"org.opencontainers.image.licenses",
}

// cacheTargets are the Go module and build caches; mounting them as BuildKit caches keeps
// rebuilds fast without putting either into a layer.
var cacheTargets = []string{"/go/pkg/mod", "/root/.cache/go-build"}

// buildTools are packages that have no place in a runtime image.
var buildTools = []string{"build-essential", "gcc", "g++", "make", "git", "golang", "golang-go", "clang", "cmake"}

var (
	digestRef   = regexp.MustCompile(`^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}$`)
	numericUser = regexp.MustCompile(`^([0-9]+)(?::([0-9]+))?$`)
	varRef      = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// Problem is one broken rule, at a line of the Dockerfile (0 when it concerns the whole file).
type Problem struct {
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Msg
	}
	return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
}

// Check parses a Dockerfile and returns every rule it breaks; an error means it does not parse.
func Check(dockerfile []byte, rules Rules) ([]Problem, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile instructions: %w", err)
	}
	c := &checker{rules: rules}
	c.check(stages)
	return c.problems, nil
}

type checker struct {
	rules    Rules
	problems []Problem
}

func (c *checker) addf(line int, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
}

func line(cmd instructions.Command) int {
	if loc := cmd.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

func stageLine(s instructions.Stage) int {
	if len(s.Location) > 0 {
		return s.Location[0].Start.Line
	}
	return 0
}

func (c *checker) check(stages []instructions.Stage) {
	if len(stages) < 2 {
		c.addf(0, "got %d stage(s), want a multi-stage build (a Go build stage, then a runtime stage)", len(stages))
	}
	names := map[string]bool{}
	builders := map[string]bool{} // stages that run go build
	for _, s := range stages {
		c.checkBase(s, names)
		c.checkNoRemoteAdd(s)
		if c.checkGoBuilds(s) {
			builders[strings.ToLower(s.Name)] = true
		}
		if s.Name != "" {
			names[strings.ToLower(s.Name)] = true
		}
	}
	if len(builders) == 0 {
		c.addf(0, "no stage runs `go build`: want a Go build stage")
	}
	if len(stages) > 0 {
		c.checkFinal(stages[len(stages)-1], builders)
	}
}

// checkBase: FROM is a previous stage, scratch, or an image pinned by tag and digest, written
// out literally (Dependabot cannot update a digest hidden in a build argument).
func (c *checker) checkBase(s instructions.Stage, earlier map[string]bool) {
	base := s.BaseName
	switch {
	case earlier[strings.ToLower(base)], base == "scratch":
	case strings.Contains(base, "$"):
		c.addf(stageLine(s), "FROM %s: got a variable, want the image written out (name:tag@sha256:digest) so that Dependabot can update it", base)
	case !digestRef.MatchString(base):
		c.addf(stageLine(s), "FROM %s: got an unpinned base, want name:tag@sha256:<64 hex digits>", base)
	}
}

// checkNoRemoteAdd: ADD of a URL or a git repository fetches unpinned content at build time.
func (c *checker) checkNoRemoteAdd(s instructions.Stage) {
	for _, cmd := range s.Commands {
		add, ok := cmd.(*instructions.AddCommand)
		if !ok {
			continue
		}
		for _, src := range add.SourcePaths {
			if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
				c.addf(line(cmd), "ADD %s: got a remote source, want COPY of files in the build context (or a pinned, checksummed download in a RUN)", src)
			}
		}
	}
}

// checkGoBuilds checks every RUN of s that runs `go build` and reports whether there is one.
func (c *checker) checkGoBuilds(s instructions.Stage) bool {
	declared := map[string]bool{}
	found := false
	for _, cmd := range s.Commands {
		switch cmd := cmd.(type) {
		case *instructions.ArgCommand:
			for _, a := range cmd.Args {
				declared[a.Key] = true
			}
		case *instructions.EnvCommand:
			for _, kv := range cmd.Env {
				declared[kv.Key] = true
			}
		case *instructions.RunCommand:
			script := strings.Join(cmd.CmdLine, " ")
			if !strings.Contains(script, "go build") {
				continue
			}
			found = true
			c.checkGoBuild(cmd, script, declared)
		}
	}
	return found
}

func (c *checker) checkGoBuild(cmd *instructions.RunCommand, script string, declared map[string]bool) {
	ln := line(cmd)
	if !regexp.MustCompile(`(^|\s)CGO_ENABLED=0\s`).MatchString(script) {
		c.addf(ln, "go build: got no CGO_ENABLED=0 in the command, want a static binary")
	}
	if !strings.Contains(script, "-trimpath") {
		c.addf(ln, "go build: got no -trimpath, want reproducible binaries without build paths")
	}
	// Without an expander the parser leaves --mount values unparsed; the identity keeps them
	// as written.
	if err := cmd.Expand(func(word string) (string, error) { return word, nil }); err != nil {
		c.addf(ln, "RUN --mount: %v", err)
	}
	var targets []string
	for _, m := range instructions.GetMounts(cmd) {
		if m.Type == instructions.MountTypeCache {
			targets = append(targets, m.Target)
		}
	}
	for _, want := range cacheTargets {
		if !slices.Contains(targets, want) {
			c.addf(ln, "go build: got cache mounts %v, want --mount=type=cache,target=%s", targets, want)
		}
	}
	for _, m := range varRef.FindAllStringSubmatch(script, -1) {
		if name := m[1] + m[2]; !declared[name] {
			c.addf(ln, "go build uses $%s: got no ARG or ENV %s earlier in the stage, want one (or it expands to nothing)", name, name)
		}
	}
	if len(c.rules.LDFlags) == 0 || !strings.Contains(script, "./cmd/") {
		return // the health probe and other helpers are not the jq binaries
	}
	got, ok := LDFlagsOf(script)
	if !ok {
		c.addf(ln, "go build: got no -ldflags, want %q (as `make build`)", strings.Join(c.rules.LDFlags, " "))
		return
	}
	if !slices.Equal(got, c.rules.LDFlags) {
		c.addf(ln, "go build -ldflags: got %q, want %q (as `make build`)", strings.Join(got, " "), strings.Join(c.rules.LDFlags, " "))
	}
}

// LDFlagsOf returns the words of the first -ldflags "..." value in a shell command, with every
// variable reference normalised to $NAME.
func LDFlagsOf(script string) ([]string, bool) {
	m := regexp.MustCompile(`-ldflags[= ]\s*(?:"([^"]*)"|'([^']*)')`).FindStringSubmatch(script)
	if m == nil {
		return nil, false
	}
	return NormaliseFlags(m[1] + m[2]), true
}

// NormaliseFlags splits flags on white space and writes every variable reference as $NAME.
func NormaliseFlags(s string) []string {
	s = varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		return "$" + m[1] + m[2]
	})
	var out []string
	for _, w := range strings.Fields(s) {
		if w != "\\" { // a line continuation of the Makefile or the shell
			out = append(out, w)
		}
	}
	return out
}

func (c *checker) checkFinal(s instructions.Stage, builders map[string]bool) {
	ln := stageLine(s)
	if builders[strings.ToLower(s.BaseName)] || strings.HasPrefix(s.BaseName, "golang:") {
		c.addf(ln, "final stage FROM %s: got the Go toolchain, want a runtime base without build tools", s.BaseName)
	}
	c.checkNoGoBuild(s)
	if s.BaseName == "scratch" {
		c.checkNoShell(s)
	}
	c.checkBuildToolsNotInstalled(s)
	c.checkUser(s)
	c.checkEntrypoint(s)
	c.checkLabels(s)
}

func (c *checker) checkNoGoBuild(s instructions.Stage) {
	for _, cmd := range s.Commands {
		if run, ok := cmd.(*instructions.RunCommand); ok && strings.Contains(strings.Join(run.CmdLine, " "), "go build") {
			c.addf(line(cmd), "final stage runs go build: want the binaries built in an earlier stage and copied")
		}
	}
}

// checkNoShell: scratch has no /bin/sh, so a shell-form command there can never run.
func (c *checker) checkNoShell(s instructions.Stage) {
	for _, cmd := range s.Commands {
		switch cmd := cmd.(type) {
		case *instructions.RunCommand:
			c.addf(line(cmd), "RUN in a scratch stage: there is no shell or program to run; prepare files in an earlier stage")
		case *instructions.EntrypointCommand:
			if cmd.PrependShell {
				c.addf(line(cmd), "shell-form ENTRYPOINT on scratch: there is no /bin/sh")
			}
		case *instructions.CmdCommand:
			if cmd.PrependShell {
				c.addf(line(cmd), "shell-form CMD on scratch: there is no /bin/sh")
			}
		case *instructions.HealthCheckCommand:
			if len(cmd.Health.Test) > 0 && cmd.Health.Test[0] == "CMD-SHELL" {
				c.addf(line(cmd), "shell-form HEALTHCHECK on scratch: there is no /bin/sh; use HEALTHCHECK CMD [\"...\"]")
			}
		}
	}
}

func (c *checker) checkBuildToolsNotInstalled(s instructions.Stage) {
	for _, cmd := range s.Commands {
		run, ok := cmd.(*instructions.RunCommand)
		if !ok {
			continue
		}
		script := strings.Join(run.CmdLine, " ")
		if !regexp.MustCompile(`\b(apt-get|apt|apk|dnf|yum|microdnf)\s+(-\S+\s+)*(install|add)\b`).MatchString(script) {
			continue
		}
		words := strings.FieldsFunc(script, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\\' || r == '&' || r == ';' })
		for _, w := range words {
			if name, _, _ := strings.Cut(w, "="); slices.Contains(buildTools, name) {
				c.addf(line(cmd), "final stage installs %s: want no build tools in the runtime image", name)
			}
		}
	}
}

// checkUser: the last USER of the final stage is numeric (Kubernetes' runAsNonRoot can only
// verify a numeric uid) and the wanted non-root uid.
func (c *checker) checkUser(s instructions.Stage) {
	var user *instructions.UserCommand
	for _, cmd := range s.Commands {
		if u, ok := cmd.(*instructions.UserCommand); ok {
			user = u
		}
	}
	if user == nil {
		c.addf(stageLine(s), "final stage has no USER: want USER %d (numeric, non-root)", c.rules.UID)
		return
	}
	m := numericUser.FindStringSubmatch(user.User)
	if m == nil {
		c.addf(line(user), "USER %s: got a name, want a numeric uid[:gid] (runAsNonRoot cannot check a name)", user.User)
		return
	}
	uid, _ := strconv.Atoi(m[1])
	switch {
	case uid == 0:
		c.addf(line(user), "USER %s: got root, want uid %d", user.User, c.rules.UID)
	case uid != c.rules.UID:
		c.addf(line(user), "USER %s: got uid %d, want %d", user.User, uid, c.rules.UID)
	}
}

// checkEntrypoint: an exec-form ENTRYPOINT, so the binary is PID 1 (or runs under an init
// named in it) and receives SIGTERM itself, instead of a shell that does not forward it.
func (c *checker) checkEntrypoint(s instructions.Stage) {
	var ep *instructions.EntrypointCommand
	for _, cmd := range s.Commands {
		if e, ok := cmd.(*instructions.EntrypointCommand); ok {
			ep = e
		}
	}
	switch {
	case ep == nil:
		c.addf(stageLine(s), "final stage has no ENTRYPOINT: want an exec-form ENTRYPOINT [\"/path/to/binary\"]")
	case ep.PrependShell:
		c.addf(line(ep), "ENTRYPOINT %s: got shell form, want exec form [\"...\"] (a shell does not forward SIGTERM)", strings.Join(ep.CmdLine, " "))
	case len(ep.CmdLine) == 0 || !strings.HasPrefix(ep.CmdLine[0], "/"):
		c.addf(line(ep), "ENTRYPOINT %v: want an absolute path as the program", ep.CmdLine)
	}
}

func (c *checker) checkLabels(s instructions.Stage) {
	got := map[string]string{}
	for _, cmd := range s.Commands {
		if l, ok := cmd.(*instructions.LabelCommand); ok {
			for _, kv := range l.Labels {
				// Unexpanded: quotes are still part of the value.
				got[kv.Key] = strings.Trim(kv.Value, `"'`)
			}
		}
	}
	for _, key := range c.rules.RequiredLabels {
		if strings.TrimSpace(got[key]) == "" {
			c.addf(stageLine(s), "final stage label %s: got none, want it set", key)
		}
	}
}
