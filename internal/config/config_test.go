package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
)

// env is a fake environment for Load.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func load(t *testing.T, service config.Service, src config.Source) (*config.Config, []string) {
	t.Helper()
	if src.LookupEnv == nil {
		src.LookupEnv = env{}.lookup
	}
	cfg, warnings, err := config.Load(service, src)
	require.NoError(t, err)
	return cfg, warnings
}

func TestLoad_DefaultsAreValid(t *testing.T) {
	t.Parallel()
	for _, svc := range []config.Service{config.ServiceServer, config.ServiceWorker, config.ServiceCtl} {
		t.Run(string(svc), func(t *testing.T) {
			t.Parallel()
			cfg, warnings := load(t, svc, config.Source{})
			require.Empty(t, warnings)
			require.NoError(t, cfg.Validate(svc))
		})
	}
}

func TestLoad_Defaults(t *testing.T) {
	t.Parallel()
	cfg, _ := load(t, config.ServiceServer, config.Source{})
	require.Equal(t, 500*time.Millisecond, cfg.Scheduler.Interval.Std())
	require.Equal(t, 50051, cfg.GRPC.Port)
	require.Equal(t, 1<<20, cfg.GRPC.MaxPayloadBytes)
	require.Equal(t, "", cfg.Redis.Addr, "Redis is off by default")
	require.Empty(t, cfg.Kafka.Brokers, "events are off by default")
	require.Equal(t, 9090, cfg.Metrics.Port)

	worker, _ := load(t, config.ServiceWorker, config.Source{})
	require.Equal(t, 9091, worker.Metrics.Port, "worker metrics must not clash with the server's")
	require.Equal(t, []string{"default"}, worker.Worker.Queues)
}

func TestLoad_YAML(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
grpc:
  port: 6000
db:
  host: db.internal
  port: 6432
  name: jobs
scheduler:
  interval: 250ms
  batch_size: 500
worker:
  queues: [emails, reports]
kafka:
  brokers:
    - k1:9092
    - k2:9092
logging:
  level: debug
`)
	cfg, warnings := load(t, config.ServiceServer, config.Source{File: path})
	require.Empty(t, warnings)
	require.Equal(t, 6000, cfg.GRPC.Port)
	require.Equal(t, "db.internal", cfg.DB.Host)
	require.Equal(t, 6432, cfg.DB.Port)
	require.Equal(t, "jobs", cfg.DB.Name)
	require.Equal(t, "jq", cfg.DB.User, "keys absent from the file keep their defaults")
	require.Equal(t, 250*time.Millisecond, cfg.Scheduler.Interval.Std())
	require.Equal(t, 500, cfg.Scheduler.BatchSize)
	require.Equal(t, []string{"emails", "reports"}, cfg.Worker.Queues)
	require.Equal(t, []string{"k1:9092", "k2:9092"}, cfg.Kafka.Brokers)
	require.Equal(t, "debug", cfg.Logging.Level)
}

func TestLoad_EmptyFile(t *testing.T) {
	t.Parallel()
	cfg, _ := load(t, config.ServiceServer, config.Source{File: writeFile(t, "# nothing\n")})
	require.Equal(t, config.Default(config.ServiceServer), cfg)
}

func TestLoad_UnknownKeysNamed(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
db:
  pasword: x
  host: h
schedular:
  interval: 1s
grpc:
  port: 1
  tls:
    cert: a
`)
	_, _, err := config.Load(config.ServiceServer, config.Source{File: path, LookupEnv: env{}.lookup})
	require.Error(t, err)
	problems := config.Problems(err)
	require.Len(t, problems, 3, "got %v", problems)
	require.Contains(t, problems[0], "line 3: unknown key db.pasword (did you mean password?)")
	require.Contains(t, problems[1], "unknown key schedular (did you mean scheduler?)")
	require.Contains(t, problems[2], "unknown key grpc.tls")
	require.Contains(t, err.Error(), path)
}

func TestLoad_WrongTypeInFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"IntAsWord":       "grpc:\n  port: fifty\n",
		"BadDuration":     "scheduler:\n  interval: 5\n",
		"SectionNotAMap":  "db: localhost\n",
		"DocumentNotAMap": "- a\n- b\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := config.Load(config.ServiceServer, config.Source{File: writeFile(t, content), LookupEnv: env{}.lookup})
			require.Error(t, err)
			require.Regexp(t, `line \d+`, err.Error())
		})
	}
}

func TestLoad_MissingFile(t *testing.T) {
	t.Parallel()
	_, _, err := config.Load(config.ServiceServer, config.Source{File: "/nonexistent/jq.yaml"})
	require.ErrorIs(t, err, os.ErrNotExist)
}

// sampleValue returns a valid, non-default value for a field, as an env var would hold it.
func sampleValue(t *testing.T, f config.Field) string {
	t.Helper()
	switch f.Kind() {
	case "duration":
		return "1h2m3s"
	case "int":
		return "7"
	case "bool":
		if f.String() == "true" {
			return "false"
		}
		return "true"
	case "list":
		return "a:1, b:2"
	case "string":
		return "sample-" + strings.ToLower(f.Env)
	}
	t.Fatalf("field %s has kind %s that the test does not know", f.Path, f.Kind())
	return ""
}

func TestLoad_EveryEnvOverride(t *testing.T) {
	t.Parallel()
	defaults := config.Default(config.ServiceServer)
	for _, f := range defaults.Fields() {
		t.Run(f.Env, func(t *testing.T) {
			t.Parallel()
			val := sampleValue(t, f)
			cfg, _ := load(t, config.ServiceServer, config.Source{LookupEnv: env{f.Env: val}.lookup})

			got, ok := cfg.Field(f.Path)
			require.True(t, ok)
			require.NotEqual(t, f.String(), got.String(), "%s did not change %s", f.Env, f.Path)
			want := val
			if f.Kind() == "list" {
				want = "a:1,b:2"
			}
			require.Equal(t, want, got.String())

			// Nothing else moved.
			for _, other := range cfg.Fields() {
				if other.Path == f.Path {
					continue
				}
				def, _ := defaults.Field(other.Path)
				require.Equal(t, def.String(), other.String(), "%s changed %s", f.Env, other.Path)
			}
		})
	}
}

func TestFields_EnvMapping(t *testing.T) {
	t.Parallel()
	cfg := config.Default(config.ServiceServer)
	seen := map[string]string{}
	envName := regexp.MustCompile(`^JQ_[A-Z0-9_]+$`)
	for _, f := range cfg.Fields() {
		require.Regexp(t, envName, f.Env, "field %s", f.Path)
		require.NotEmpty(t, f.Help, "field %s has no help", f.Path)
		if prev, dup := seen[f.Env]; dup {
			t.Fatalf("%s is used by both %s and %s", f.Env, prev, f.Path)
		}
		seen[f.Env] = f.Path
	}
	// The documented examples of the mapping.
	for env, path := range map[string]string{
		"JQ_DB_PASSWORD":        "db.password",
		"JQ_DB_URL":             "db.url",
		"JQ_REDIS_ADDR":         "redis.addr",
		"JQ_KAFKA_BROKERS":      "kafka.brokers",
		"JQ_SERVER_ADDR":        "worker.server_addr",
		"JQ_SCHEDULER_INTERVAL": "scheduler.interval",
		"JQ_LOG_LEVEL":          "logging.level",
	} {
		require.Equal(t, path, seen[env], "env %s", env)
	}
}

func TestLoad_Precedence(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "grpc:\n  port: 1111\n  host: filehost\nmetrics:\n  port: 1112\n")
	cfg, _ := load(t, config.ServiceServer, config.Source{
		File:      path,
		LookupEnv: env{"JQ_GRPC_PORT": "2222", "JQ_METRICS_PORT": "2223"}.lookup,
		Flags:     map[string]string{"grpc.port": "3333"},
	})
	require.Equal(t, 3333, cfg.GRPC.Port, "flag beats env and file")
	require.Equal(t, 2223, cfg.Metrics.Port, "env beats file")
	require.Equal(t, "filehost", cfg.GRPC.Host, "file beats default")
	require.Equal(t, 8080, cfg.Health.Port, "default when nothing sets it")
}

func TestLoad_BadEnvAndFlagValuesAllReported(t *testing.T) {
	t.Parallel()
	_, _, err := config.Load(config.ServiceServer, config.Source{
		LookupEnv: env{"JQ_GRPC_PORT": "abc", "JQ_SCHEDULER_INTERVAL": "10", "JQ_DB_MIGRATE_ON_START": "maybe"}.lookup,
		Flags:     map[string]string{"metrics.port": "x"},
	})
	problems := config.Problems(err)
	require.Len(t, problems, 4, "got %v", problems)
	joined := strings.Join(problems, "\n")
	for _, want := range []string{"JQ_GRPC_PORT (grpc.port)", "JQ_SCHEDULER_INTERVAL", "JQ_DB_MIGRATE_ON_START", "flag for metrics.port"} {
		require.Contains(t, joined, want)
	}
}

func TestLoad_SecretInFileWarns(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
db:
  password: hunter2
  url: postgres://jq:s3cret@db:5432/jq
redis:
  password: ""
kafka:
  sasl_password: pw
`)
	_, warnings := load(t, config.ServiceServer, config.Source{File: path})
	require.Len(t, warnings, 3, "got %v", warnings)
	require.Contains(t, warnings[0], "db.url is set in the config file")
	require.Contains(t, warnings[0], "JQ_DB_URL")
	require.Contains(t, warnings[1], "db.password")
	require.Contains(t, warnings[1], "JQ_DB_PASSWORD")
	require.Contains(t, warnings[2], "JQ_KAFKA_SASL_PASSWORD")
	for _, w := range warnings {
		require.NotContains(t, w, "hunter2")
		require.NotContains(t, w, "s3cret")
	}

	t.Run("SecretFromEnvDoesNotWarn", func(t *testing.T) {
		t.Parallel()
		_, warnings := load(t, config.ServiceServer, config.Source{
			File:      writeFile(t, "db:\n  url: postgres://jq@db/jq\n"),
			LookupEnv: env{"JQ_DB_PASSWORD": "x"}.lookup,
		})
		require.Empty(t, warnings)
	})
}

func TestValidate_ListsEveryProblem(t *testing.T) {
	t.Parallel()
	cfg := config.Default(config.ServiceServer)
	cfg.GRPC.Port = 70000
	cfg.DB.URL = "mysql://x"
	cfg.DB.MaxConns = 0
	cfg.Scheduler.BatchSize = 0
	cfg.Scheduler.RetryBaseDelay = config.Duration(time.Hour)
	cfg.Scheduler.StartDelay = config.Duration(5 * time.Second) // over a tenth of the 30 s assignment timeout
	cfg.Kafka.SASLMechanism = "PLAIN"
	cfg.Kafka.RelayBatch = 0
	cfg.Redis.Addr = "no-port"
	cfg.GRPC.TLSCertFile = "cert.pem"
	cfg.Logging.Level = "loud"

	err := cfg.Validate(config.ServiceServer)
	problems := config.Problems(err)
	fields := make([]string, 0, len(problems))
	for _, p := range problems {
		field, _, _ := strings.Cut(p, ":")
		fields = append(fields, field)
	}
	require.ElementsMatch(t, []string{
		"grpc.port", "grpc.tls_cert_file", "db.url", "db.max_conns", "redis.addr",
		"kafka.sasl_mechanism", "kafka.relay_batch", "scheduler.batch_size", "scheduler.retry_base_delay", "scheduler.start_delay", "logging.level",
	}, fields, "problems: %v", problems)
	require.Contains(t, err.Error(), "invalid configuration:\n  - ")
}

func TestValidate_Worker(t *testing.T) {
	t.Parallel()
	cfg := config.Default(config.ServiceWorker)
	cfg.Worker.ServerAddr = "nohost"
	cfg.Worker.Concurrency = 0
	cfg.Worker.Queues = []string{"ok", "bad queue!"}
	cfg.Worker.TLSKeyFile = "key.pem"
	problems := config.Problems(cfg.Validate(config.ServiceWorker))
	require.Len(t, problems, 4, "got %v", problems)

	t.Run("ServerSectionsIgnored", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default(config.ServiceWorker)
		cfg.DB.MaxConns = 0
		require.NoError(t, cfg.Validate(config.ServiceWorker))
	})
}

func TestDBConfig_ConnString(t *testing.T) {
	t.Parallel()
	db := config.Default(config.ServiceServer).DB
	db.Password = "p@ss/word"
	require.Equal(t, "postgres://jq:p%40ss%2Fword@localhost:5432/jq?connect_timeout=5&sslmode=prefer", db.ConnString())

	db.URL = "postgres://u@h/d"
	require.Equal(t, "postgres://u@h/d", db.ConnString(), "url wins over the discrete fields")

	require.Equal(t, "postgres://jq:xxxxx@h/d", config.Redacted("postgres://jq:secret@h/d"))
	for _, malformed := range []string{"postgres://jq:secret@h:port/d", "postgres://jq:se cret@[::1/d", "postgresql://jq:secret@h:99999999999/d"} {
		require.NotContains(t, config.Redacted(malformed), "secret", "a URL that does not parse is redacted too: %s", malformed)
		require.NotContains(t, config.Redacted(malformed), "cret")
	}
}

func TestFields_EveryKindSettable(t *testing.T) {
	t.Parallel()
	// Every field kind must be one Set knows; a new kind would panic here first.
	cfg := config.Default(config.ServiceServer)
	for _, f := range cfg.Fields() {
		require.NotPanics(t, func() { _ = f.Set(sampleValue(t, f)) }, f.Path)
	}
}

func TestValidate_UI(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/jq", "/ops/jq", "/a.b_c~d-e"} {
		cfg := config.Default(config.ServiceServer)
		cfg.UI.PathPrefix = prefix
		require.NoError(t, cfg.Validate(config.ServiceServer), "path prefix %q", prefix)
	}
	for _, prefix := range []string{"jq", "/jq/", "/", "//jq", "/j q", "/jq?x=1", "/jq/../x"} {
		cfg := config.Default(config.ServiceServer)
		cfg.UI.PathPrefix = prefix
		problems := config.Problems(cfg.Validate(config.ServiceServer))
		require.Len(t, problems, 1, "path prefix %q: got %v", prefix, problems)
		require.Contains(t, problems[0], "ui.path_prefix")
	}
	cfg := config.Default(config.ServiceServer)
	cfg.UI.Enabled = true
	cfg.UI.Port = -1
	cfg.UI.SessionTTL = 0
	problems := config.Problems(cfg.Validate(config.ServiceServer))
	require.Len(t, problems, 2, "got %v", problems)
	require.Contains(t, problems[0], "ui.port")
	require.Contains(t, problems[1], "ui.session_ttl")
}

func TestCompact(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", time.Hour + 30*time.Minute: "1h30m", 90 * time.Second: "1m30s",
		time.Hour + 5*time.Second: "1h0m5s", 45 * time.Second: "45s", 2 * time.Minute: "2m", 0: "0s",
	} {
		require.Equal(t, want, config.Compact(d), "%v", d)
	}
}
