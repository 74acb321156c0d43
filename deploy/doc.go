// Package deploy holds the checks of jq's container and pipeline files. It is a Go module of its
// own (github.com/jqhq/jq/deploy), so that Compose, BuildKit and their dependencies stay out of
// the product's go.mod; `make test` runs it with every other nested module.
//
// What it checks, each in the named test file:
//   - `deploy/docker/Dockerfile.server`, `deploy/docker/Dockerfile.worker` and
//     `deploy/docker/Dockerfile.ctl`: parsed with BuildKit's parser and held to the image rules
//     of `internal/dockerpolicy` (dockerfile_test.go); built and measured where a Docker engine
//     answers (images_test.go); `.dockerignore` lets in what the build needs and keeps secrets
//     out (dockerignore_test.go).
//   - `docker-compose.yml` and `docker-compose.test.yml`: loaded and validated with compose-go,
//     the loader of Docker Compose, and held to the rules of `internal/composecheck`
//     (compose_test.go).
//   - `.github/workflows/`: actionlint and the rules of `internal/workflowpolicy`; also
//     `.github/dependabot.yml` and `.github/CODEOWNERS` (workflows_test.go).
//   - `.github/scripts/` and `deploy/smoke-test.sh`: the PR checks and the post-deploy smoke test,
//     run against throwaway git repositories and stand-in programs (scripts_test.go).
//   - `config.local.example.yaml` loads and validates for the three binaries and points at the
//     dev stack (localconfig_test.go); `.gitignore` keeps local configuration and keys out of
//     git (gitignore_test.go).
//   - the Makefile's container and compose targets, and `docs/deploy.md`, which must describe
//     what exists (makefile_test.go, deploydoc_test.go).
//
// `cmd/jq-probe` is the health probe the server and worker images run (they have no shell).
// `deploy/prometheus/prometheus.local.yml`, `deploy/local-services.sh` and `deploy/run-local.sh`
// live here too; the Kubernetes manifests under deploy/k8s are a module of their own, which this
// one does not include. docs/deploy.md explains all of it.
package deploy
