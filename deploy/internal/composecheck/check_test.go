package composecheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// good keeps every rule; each case below breaks one.
const good = `name: demo
services:
  db:
    image: postgres:15
    ports: ["127.0.0.1:15432:5432"]
    healthcheck:
      test: ["CMD", "pg_isready"]
  migrate:
    build:
      context: .
      dockerfile: Dockerfile
    image: demo:test
    restart: "no"
    depends_on:
      db:
        condition: service_healthy
  app:
    image: demo:test
    volumes:
      - ./conf:/etc/demo:ro
    env_file: [app.env]
    ports: ["127.0.0.1:18080:8080"]
    healthcheck:
      test: ["CMD", "/probe"]
    depends_on:
      migrate:
        condition: service_completed_successfully
      db:
        condition: service_healthy
`

// project writes compose (and the files it names) into a temporary folder and loads it.
func project(t *testing.T, compose string) []string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.env"), []byte("A=1\n"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "conf"), 0o700))
	p, err := Load(context.Background(), dir, nil, "compose.yml")
	require.NoError(t, err)
	return Check(p)
}

func TestCheck_Good(t *testing.T) {
	t.Parallel()
	require.Empty(t, project(t, good))
}

func TestCheck_RejectsEachBrokenRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, new, want string
	}{
		{"MissingDockerfile", "dockerfile: Dockerfile", "dockerfile: Dockerfile.nope", "build.dockerfile"},
		{"MissingContext", "context: .", "context: ./nope", "build.context"},
		{"MissingBindSource", "./conf:/etc/demo:ro", "./nope:/etc/demo:ro", "bind mount source"},
		{"ReadWriteBind", "./conf:/etc/demo:ro", "./conf:/etc/demo", "read-write"},
		{"NoHealthcheck", "    healthcheck:\n      test: [\"CMD\", \"/probe\"]\n", "", "service app: got no healthcheck"},
		{"HealthcheckDisabled", "test: [\"CMD\", \"/probe\"]", "disable: true", "service app: got no healthcheck"},
		{"WaitsOnMissingHealthcheck", "    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n", "", "db has no healthcheck"},
		{"StartedButHealthy", "      db:\n        condition: service_healthy\n`", "      db:\n        condition: service_started\n`", "want service_healthy"},
		{"OneShotRestarts", "restart: \"no\"", "restart: on-failure", "runs once"},
		{"DuplicateHostPort", "127.0.0.1:18080:8080", "127.0.0.1:15432:8080", "already published"},
		{"PortOnAllInterfaces", "127.0.0.1:18080:8080", "18080:8080", "want 127.0.0.1"},
		{"RandomHostPort", "127.0.0.1:18080:8080", "8080", "random host port"},
		{"ImageLatest", "image: postgres:15", "image: postgres:latest", "pinned tag"},
		{"ImageUntagged", "image: postgres:15", "image: postgres", "pinned tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			compose := good + "`"
			require.Containsf(t, compose, tt.old, "case %s: the fixture lost the text it replaces", tt.name)
			compose = strings.TrimSuffix(strings.Replace(compose, tt.old, tt.new, 1), "`")
			got := project(t, compose)
			require.Truef(t, containsAny(got, tt.want), "case %s: got %q, want a problem containing %q", tt.name, got, tt.want)
		})
	}
}

// TestLoad_ComposeErrors: what Compose itself refuses is an error of Load, not a problem list.
func TestLoad_ComposeErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"UnknownKey":         strings.Replace(good, "    restart: \"no\"", "    restart: \"no\"\n    restarts: always", 1),
		"DependsOnUnknown":   strings.Replace(good, "      migrate:\n", "      nope:\n", 1),
		"UndeclaredVolume":   strings.Replace(good, "./conf:/etc/demo:ro", "keys:/keys", 1),
		"MissingEnvFile":     strings.Replace(good, "env_file: [app.env]", "env_file: [nope.env]", 1),
		"ExtendsMissingFile": strings.Replace(good, "  app:\n", "  app:\n    extends:\n      file: nope.yml\n      service: app\n", 1),
	}
	for name, compose := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "app.env"), []byte("A=1\n"), 0o600))
			_, err := Load(context.Background(), dir, nil, "compose.yml")
			require.Errorf(t, err, "case %s: got no error, want compose-go to refuse it", name)
			t.Log(err)
		})
	}
}

func containsAny(problems []string, sub string) bool {
	for _, p := range problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}
