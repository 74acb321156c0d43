package worker

import (
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// dangerousEnv are the variables a payload may not set unless the worker's configuration allows
// them by name (worker.allowed_env): each changes which code a program loads or runs, so a
// payload setting one could run anything on the worker's host, whatever the allowed commands.
// Names ending in '*' are prefixes.
var dangerousEnv = []string{
	"LD_*", "DYLD_*", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_*", "LOCPATH", "NLSPATH",
	"HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "TZDIR",
	"PATH", "IFS", "ENV", "BASH_ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
	"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONUSERBASE",
	"PERL5LIB", "PERL5OPT", "PERLLIB", "PERL5DB",
	"RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH",
	"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
	"GIT_*", "SSL_CERT_FILE", "SSL_CERT_DIR", "OPENSSL_CONF", "OPENSSL_ENGINES",
}

// Guard is what a worker refuses to run, to protect its host from the payloads it is sent.
type Guard struct {
	// AllowedCommands are globs (path.Match) the program must match; empty allows any. A glob
	// with a '/' matches the program's absolute path (a bare name is first looked up on the
	// worker's PATH), one without matches a bare program name only: "python3" does not allow
	// "/tmp/python3".
	AllowedCommands []string
	// AllowedEnv are variable names (or globs) a payload may set although dangerousEnv lists them.
	AllowedEnv []string
}

// Check returns why the payload may not run, or nil. Its errors are permanent: no other
// attempt of the same payload could pass.
func (g Guard) Check(p ExecPayload) error {
	for name := range p.Env {
		if err := g.checkEnv(name); err != nil {
			return err
		}
	}
	return g.checkCommand(p.Command[0])
}

func (g Guard) checkEnv(name string) error {
	if name == "" || strings.ContainsAny(name, "=\x00") {
		return fmt.Errorf("payload env name %q is not a variable name", name)
	}
	if strings.HasPrefix(name, "JQ_") {
		return fmt.Errorf("payload env %s: the JQ_ variables are the worker's own", name)
	}
	if !matchesAny(dangerousEnv, name) || matchesAny(g.AllowedEnv, name) {
		return nil
	}
	return fmt.Errorf("payload env %s is refused: it changes how programs load or run (allow it with worker.allowed_env)", name)
}

func (g Guard) checkCommand(prog string) error {
	if strings.ContainsRune(prog, 0) {
		return fmt.Errorf("program name %q holds a NUL byte", prog)
	}
	if len(g.AllowedCommands) == 0 {
		return nil
	}
	bare := !strings.Contains(prog, "/")
	abs := ""
	if bare {
		if p, err := exec.LookPath(prog); err == nil {
			abs, _ = filepath.Abs(p)
		}
	} else {
		abs, _ = filepath.Abs(prog)
	}
	for _, glob := range g.AllowedCommands {
		if strings.Contains(glob, "/") {
			if ok, _ := path.Match(glob, abs); ok && abs != "" {
				return nil
			}
		} else if ok, _ := path.Match(glob, prog); ok && bare {
			return nil
		}
	}
	return fmt.Errorf("program %q is not in worker.allowed_commands (%s)", prog, strings.Join(g.AllowedCommands, ", "))
}

// matchesAny reports whether name matches one of the patterns: an exact name, a path.Match
// glob, or a prefix ending in '*'.
func matchesAny(patterns []string, name string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		return strings.HasSuffix(p, "*") && strings.HasPrefix(name, strings.TrimSuffix(p, "*"))
	})
}
