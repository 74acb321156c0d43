// Package workflowpolicy checks a GitHub Actions workflow against the rules jq's pipeline keeps
// beyond what actionlint checks (docs/deploy.md, "The pipeline"):
//   - every action from another repository is pinned to a full commit SHA, with a comment naming
//     its release (Dependabot updates both); a docker:// action is pinned by digest;
//   - the workflow declares its default permissions, and never grants id-token: write to every
//     job at once;
//   - AWS is reached through OIDC only: no access key input or variable anywhere, and
//     aws-actions/configure-aws-credentials always assumes a role;
//   - no pull_request_target trigger (it runs with write access on code from forks);
//   - every job that runs on a machine has a timeout;
//   - every secret and variable the workflow reads is documented in its header comment.
package workflowpolicy

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	pinnedSHA      = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	versionComment = regexp.MustCompile(`^#\s*v\d+(\.\d+)*\b`)
	contextRef     = regexp.MustCompile(`\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)`)
	staticAWSKeys  = map[string]bool{
		"aws-access-key-id": true, "aws-secret-access-key": true, "aws-session-token": true,
		"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	}
)

// Check returns every rule the workflow breaks, sorted; an error means it is not YAML.
func Check(workflow []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(workflow, &doc); err != nil {
		return nil, fmt.Errorf("parse workflow: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse workflow: want a mapping at the top")
	}
	root := doc.Content[0]
	var problems []string
	addf := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", n.Line)+fmt.Sprintf(format, args...))
	}

	checkPermissions(root, addf)
	checkTriggers(root, addf)
	checkJobs(root, addf)
	walk(root, func(key, val *yaml.Node) {
		switch {
		case key.Value == "uses":
			checkUses(val, addf)
		case staticAWSKeys[key.Value]:
			addf(key, "%s: AWS is reached through OIDC (role-to-assume), never with access keys", key.Value)
		}
	})
	checkDocumented(workflow, addf)
	sort.Strings(problems)
	return problems, nil
}

// walk calls fn for every key/value pair of every mapping under n.
func walk(n *yaml.Node, fn func(key, val *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			fn(n.Content[i], n.Content[i+1])
			walk(n.Content[i+1], fn)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, fn)
		}
	}
}

func get(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func checkPermissions(root *yaml.Node, addf func(*yaml.Node, string, ...any)) {
	_, perms := get(root, "permissions")
	if perms == nil {
		addf(root, "no top-level permissions: want the least the workflow needs (e.g. contents: read), granted more per job")
		return
	}
	if perms.Kind == yaml.ScalarNode && perms.Value == "write-all" {
		addf(perms, "permissions: write-all: want the least the workflow needs")
	}
	if _, v := get(perms, "id-token"); v != nil && v.Value == "write" {
		addf(v, "top-level id-token: write: grant it only to the jobs that assume a cloud role")
	}
}

func checkTriggers(root *yaml.Node, addf func(*yaml.Node, string, ...any)) {
	_, on := get(root, "on")
	if on == nil {
		return
	}
	var triggers []*yaml.Node
	switch on.Kind {
	case yaml.ScalarNode:
		triggers = []*yaml.Node{on}
	case yaml.SequenceNode:
		triggers = on.Content
	case yaml.MappingNode:
		for i := 0; i < len(on.Content); i += 2 {
			triggers = append(triggers, on.Content[i])
		}
	}
	for _, t := range triggers {
		if t.Value == "pull_request_target" {
			addf(t, "pull_request_target runs with write access on code from forks: use pull_request, or workflow_run for what needs write access")
		}
	}
}

func checkJobs(root *yaml.Node, addf func(*yaml.Node, string, ...any)) {
	_, jobs := get(root, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode {
		addf(root, "no jobs")
		return
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		name, job := jobs.Content[i], jobs.Content[i+1]
		if k, _ := get(job, "runs-on"); k != nil {
			if t, _ := get(job, "timeout-minutes"); t == nil {
				addf(name, "job %s: no timeout-minutes (the default is 6 hours)", name.Value)
			}
		}
		_, steps := get(job, "steps")
		if steps == nil {
			continue
		}
		for _, step := range steps.Content {
			_, uses := get(step, "uses")
			if uses == nil || !strings.HasPrefix(uses.Value, "aws-actions/configure-aws-credentials@") {
				continue
			}
			_, with := get(step, "with")
			if k, _ := get(with, "role-to-assume"); k == nil {
				addf(uses, "job %s: configure-aws-credentials without role-to-assume: want OIDC with a role", name.Value)
			}
		}
	}
}

func checkUses(val *yaml.Node, addf func(*yaml.Node, string, ...any)) {
	ref := val.Value
	switch {
	case strings.HasPrefix(ref, "./"):
		// An action or reusable workflow of this repository: reviewed with it.
	case strings.HasPrefix(ref, "docker://"):
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
			addf(val, "uses: %s: pin the image by digest (@sha256:...)", ref)
		}
	case !pinnedSHA.MatchString(ref):
		addf(val, "uses: %s: pin it to a full commit SHA, with the release in a comment (# vX.Y.Z)", ref)
	case !versionComment.MatchString(strings.TrimSpace(val.LineComment)):
		addf(val, "uses: %s: got comment %q, want the release it pins (# vX.Y.Z) for reviewers and Dependabot", ref, val.LineComment)
	}
}

// checkDocumented: every secrets.X and vars.X is named in the comment block at the top of the
// file, where whoever sets up the repository looks for what to configure.
func checkDocumented(workflow []byte, addf func(*yaml.Node, string, ...any)) {
	var header strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(workflow))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
		header.WriteString(line + "\n")
	}
	documented := header.String()
	seen := map[string]bool{}
	for _, loc := range contextRef.FindAllSubmatchIndex(workflow, -1) {
		kind, name := string(workflow[loc[2]:loc[3]]), string(workflow[loc[4]:loc[5]])
		if seen[kind+"."+name] || name == "GITHUB_TOKEN" {
			continue
		}
		seen[kind+"."+name] = true
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(documented) {
			at := &yaml.Node{Line: 1 + bytes.Count(workflow[:loc[0]], []byte("\n"))}
			addf(at, "%s.%s is not documented in the comment at the top of the file", kind, name)
		}
	}
}
