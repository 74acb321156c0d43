// Package composecheck loads Compose files with compose-go, the loader Docker Compose itself uses
// (schema validation, extends, !override/!reset, interpolation, consistency checks), and checks
// the rules jq's stacks keep on top of what Compose accepts: every file they name exists, every
// long-running service has a health check, nothing waits on a health check that does not exist,
// host ports are unique and bound to the loopback interface, and images are pinned.
package composecheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Load loads compose files the way `docker compose -f FILE...` run from dir would, with env as
// the only environment (nil: an empty one, so that the result does not depend on the shell that
// runs the test). Relative paths in the project are resolved against dir.
func Load(ctx context.Context, dir string, env []string, files ...string) (*types.Project, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, filepath.FromSlash(f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", strings.Join(files, ", "), err)
	}
	return p, nil
}

// OneShots are the services that run once and exit: another service waits for them with
// service_completed_successfully.
func OneShots(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[dep] = true
			}
		}
	}
	return out
}

// HasHealthcheck reports whether s declares a health check that runs.
func HasHealthcheck(s types.ServiceConfig) bool {
	h := s.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// Check returns every rule p breaks, one message each, sorted.
func Check(p *types.Project) []string {
	var problems []string
	addf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	oneShots := OneShots(p)
	ports := map[string]string{} // "host_ip:port/proto" -> service

	for _, name := range sortedNames(p) {
		s := p.Services[name]
		checkFiles(s, addf)
		checkImage(s, addf)

		if oneShots[name] {
			if s.Restart != "" && s.Restart != types.RestartPolicyNo {
				addf("service %s: runs once (others wait for it to complete) but restart is %q, want \"no\"", name, s.Restart)
			}
		} else if !HasHealthcheck(s) {
			addf("service %s: got no healthcheck, want one (depends_on service_healthy and `up --wait` rely on it)", name)
		}

		for _, dep := range sortedKeys(s.DependsOn) {
			d := s.DependsOn[dep]
			target, ok := p.Services[dep]
			if ok && d.Condition == types.ServiceConditionHealthy && !HasHealthcheck(target) {
				addf("service %s: depends_on %s with service_healthy, but %s has no healthcheck", name, dep, dep)
			}
			if ok && d.Condition == types.ServiceConditionStarted && HasHealthcheck(target) {
				addf("service %s: depends_on %s with service_started, want service_healthy (%s has a healthcheck)", name, dep, dep)
			}
		}

		for _, pm := range s.Ports {
			if pm.Published == "" {
				addf("service %s: container port %d published on a random host port, want a fixed one", name, pm.Target)
				continue
			}
			if pm.HostIP != "127.0.0.1" {
				addf("service %s: host port %s bound to %q, want 127.0.0.1 (the stacks use throwaway credentials)", name, pm.Published, pm.HostIP)
			}
			key := pm.Published + "/" + pm.Protocol
			if owner, dup := ports[key]; dup {
				addf("service %s: host port %s already published by %s", name, key, owner)
			}
			ports[key] = name
		}
	}
	sort.Strings(problems)
	return problems
}

// checkFiles: everything a service takes from the host exists. Docker would create a missing
// bind-mount source as an empty, root-owned directory, and fail the build on a missing context
// or Dockerfile only when someone runs it.
func checkFiles(s types.ServiceConfig, addf func(string, ...any)) {
	if b := s.Build; b != nil {
		if !isDir(b.Context) {
			addf("service %s: build.context %s: not a directory", s.Name, b.Context)
		} else if b.DockerfileInline == "" {
			df := b.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if !filepath.IsAbs(df) {
				df = filepath.Join(b.Context, df)
			}
			if !isFile(df) {
				addf("service %s: build.dockerfile %s: no such file", s.Name, df)
			}
		}
	}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if !exists(v.Source) {
			addf("service %s: bind mount source %s: no such file or directory", s.Name, v.Source)
		}
		if !v.ReadOnly {
			addf("service %s: bind mount %s is read-write, want read-only (:ro)", s.Name, v.Source)
		}
	}
	for _, f := range s.EnvFiles {
		if !isFile(f.Path) {
			addf("service %s: env_file %s: no such file", s.Name, f.Path)
		}
	}
}

// checkImage: a pulled image has a tag other than latest (or a digest); a built one has a name,
// so that other services can run it without building it again.
func checkImage(s types.ServiceConfig, addf func(string, ...any)) {
	if s.Build != nil {
		return
	}
	if s.Image == "" {
		addf("service %s: got neither image nor build", s.Name)
		return
	}
	if strings.Contains(s.Image, "@sha256:") {
		return
	}
	ref := s.Image[strings.LastIndex(s.Image, "/")+1:]
	_, tag, ok := strings.Cut(ref, ":")
	if !ok || tag == "" || tag == "latest" {
		addf("service %s: image %s: want a pinned tag (not latest) or a digest", s.Name, s.Image)
	}
}

// ReferencedPaths lists the host paths p takes files from: build contexts and Dockerfiles,
// bind-mount sources, env files, config and secret files.
func ReferencedPaths(p *types.Project) []string {
	var out []string
	for _, name := range sortedNames(p) {
		s := p.Services[name]
		if s.Build != nil {
			out = append(out, s.Build.Context)
			if s.Build.Dockerfile != "" {
				out = append(out, filepath.Join(s.Build.Context, s.Build.Dockerfile))
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				out = append(out, v.Source)
			}
		}
		for _, f := range s.EnvFiles {
			out = append(out, f.Path)
		}
	}
	for _, c := range p.Configs {
		if c.File != "" {
			out = append(out, c.File)
		}
	}
	for _, c := range p.Secrets {
		if c.File != "" {
			out = append(out, c.File)
		}
	}
	return slices.Compact(out)
}

// HostPorts maps each published "port/proto" of p to the service that publishes it.
func HostPorts(p *types.Project) map[string]string {
	out := map[string]string{}
	for _, name := range sortedNames(p) {
		for _, pm := range p.Services[name].Ports {
			if pm.Published != "" {
				out[pm.Published+"/"+pm.Protocol] = name
			}
		}
	}
	return out
}

func sortedNames(p *types.Project) []string { return sortedKeys(p.Services) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}
