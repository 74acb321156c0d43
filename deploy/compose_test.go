package deploy

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/jqhq/jq/deploy/internal/composecheck"
	"github.com/jqhq/jq/internal/config"
)

const (
	devCompose    = "docker-compose.yml"
	testCompose   = "docker-compose.test.yml"
	promLocalPath = "deploy/prometheus/prometheus.local.yml"
)

// loadCompose loads a compose file of the repository with compose-go, from the repository root
// and with an empty environment, as `docker compose -f FILE` run there would.
func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	p, err := composecheck.Load(context.Background(), repoRoot(t), nil, file)
	require.NoErrorf(t, err, "compose-go refuses %s", file)
	return p
}

func TestCompose_Rules(t *testing.T) {
	t.Parallel()
	for _, file := range []string{devCompose, testCompose} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			problems := composecheck.Check(loadCompose(t, file))
			require.Emptyf(t, problems, "%s:\n%s", file, strings.Join(problems, "\n"))
		})
	}
}

// TestCompose_ReferencedFilesInRepo: every host path the stacks take (Dockerfiles, bind
// mounts, env and config files) is inside this repository, so a fresh clone has it.
func TestCompose_ReferencedFilesInRepo(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, file := range []string{devCompose, testCompose} {
		paths := composecheck.ReferencedPaths(loadCompose(t, file))
		require.NotEmptyf(t, paths, "%s: got no referenced path, want its mounts and Dockerfiles", file)
		for _, p := range paths {
			rel, err := filepath.Rel(root, p)
			require.NoError(t, err)
			require.Falsef(t, rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)), "%s references %s: want a path inside the repository", file, p)
			requireExists(t, filepath.ToSlash(rel), file)
		}
	}
}

func TestCompose_DevStack(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, devCompose)

	require.Equal(t, []string{"grafana", "kafka", "postgres", "prometheus", "redis"}, sortedKeys(p.Services),
		"%s: the backing services only; jq itself runs natively (make run)", devCompose)
	for name, major := range map[string]string{"postgres": "postgres:15", "redis": "redis:7", "kafka": "apache/kafka:"} {
		require.Truef(t, strings.HasPrefix(p.Services[name].Image, major), "service %s image: got %s, want %s…", name, p.Services[name].Image, major)
	}
	requireKafkaKRaft(t, p.Services["kafka"])

	// Mounts of the observability files (dashboards/ and rules/ are filled by their own issue;
	// the folders exist so the mounts work on a fresh clone).
	requireBind(t, p.Services["prometheus"], promLocalPath, "/etc/prometheus/prometheus.yml")
	requireBind(t, p.Services["prometheus"], "rules", "/etc/prometheus/rules")
	requireBind(t, p.Services["grafana"], "dashboards/json", "/var/lib/grafana/dashboards")
	requireBind(t, p.Services["grafana"], "dashboards/provisioning", "/etc/grafana/provisioning")

	// Prometheus must look for rules where compose mounts them, or none is ever loaded.
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	require.NoError(t, yaml.Unmarshal(readRepoFile(t, promLocalPath), &prom))
	require.NotEmpty(t, prom.RuleFiles, "%s: rule_files: got none", promLocalPath)
	for _, pattern := range prom.RuleFiles {
		require.Truef(t, strings.HasPrefix(pattern, "/etc/prometheus/rules/"), "%s rule_files %q: want a pattern under the rules mount /etc/prometheus/rules/", promLocalPath, pattern)
	}
	// jq-server and jq-worker run on the host with metrics on 9090 and 9091.
	for _, port := range []string{"9090/tcp", "9091/tcp"} {
		require.NotContainsf(t, composecheck.HostPorts(p), port, "%s publishes host port %s, which jq's metrics use on the host", devCompose, port)
	}
}

func TestCompose_TestStack(t *testing.T) {
	t.Parallel()
	dev := loadCompose(t, devCompose)
	p := loadCompose(t, testCompose)

	require.Equal(t,
		[]string{"jq-keys", "jq-keys-admin", "jq-migrate", "jq-server", "jq-worker", "kafka", "postgres", "redis"},
		sortedKeys(p.Services))
	require.NotEqual(t, dev.Name, p.Name, "project names: the test stack must not take over the dev stack's containers")
	for key, nw := range p.Networks {
		require.NotEqualf(t, dev.Networks[key].Name, nw.Name, "network %s: shared by both stacks, service names would resolve to both", key)
	}

	t.Run("HostPortsDoNotCollideWithDev", func(t *testing.T) {
		t.Parallel()
		devPorts := composecheck.HostPorts(dev)
		testPorts := composecheck.HostPorts(p)
		for _, port := range sortedKeys(testPorts) {
			owner, clash := devPorts[port]
			require.Falsef(t, clash, "host port %s of test service %s: also published by dev service %s", port, testPorts[port], owner)
		}
		// The ports docs/deploy.md and the Makefile's test targets use.
		want := map[string]string{"15432/tcp": "postgres", "16379/tcp": "redis", "19092/tcp": "kafka", "15051/tcp": "jq-server", "18080/tcp": "jq-server"}
		for port, svc := range want {
			require.Equalf(t, svc, testPorts[port], "host port %s", port)
		}
	})

	t.Run("BackingServicesAsInDev", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"postgres", "redis", "kafka"} {
			require.Equalf(t, dev.Services[name].Image, p.Services[name].Image, "service %s: the test stack extends the dev one", name)
			require.Equalf(t, dev.Services[name].HealthCheck.Test, p.Services[name].HealthCheck.Test, "service %s healthcheck", name)
			require.Lenf(t, p.Services[name].Ports, 1, "service %s ports: got %v, want one (the dev ports replaced with !override)", name, p.Services[name].Ports)
		}
		require.Empty(t, p.Services["postgres"].Volumes, "postgres volumes: want none (tmpfs), so that every run starts empty")
		requireKafkaKRaft(t, p.Services["kafka"])
	})

	t.Run("Images", func(t *testing.T) {
		t.Parallel()
		want := map[string]string{
			"jq-migrate": "Dockerfile.server", "jq-keys": "Dockerfile.server", "jq-keys-admin": "Dockerfile.server",
			"jq-server": "Dockerfile.server", "jq-worker": "Dockerfile.worker",
		}
		for name, df := range want {
			b := p.Services[name].Build
			require.NotNilf(t, b, "service %s: want it built from this checkout", name)
			require.Equalf(t, "deploy/docker/"+df, filepath.ToSlash(b.Dockerfile), "service %s build.dockerfile", name)
			require.Equalf(t, types.PullPolicyBuild, p.Services[name].PullPolicy, "service %s pull_policy: want build, never a stale image", name)
		}
	})

	t.Run("StartOrder", func(t *testing.T) {
		t.Parallel()
		requireDependsOn(t, p, "jq-migrate", "postgres", types.ServiceConditionHealthy)
		for _, keys := range []string{"jq-keys", "jq-keys-admin"} {
			requireDependsOn(t, p, keys, "jq-migrate", types.ServiceConditionCompletedSuccessfully)
			requireDependsOn(t, p, "jq-server", keys, types.ServiceConditionCompletedSuccessfully)
		}
		requireDependsOn(t, p, "jq-server", "jq-migrate", types.ServiceConditionCompletedSuccessfully)
		for _, backing := range []string{"postgres", "redis", "kafka"} {
			requireDependsOn(t, p, "jq-server", backing, types.ServiceConditionHealthy)
		}
		requireDependsOn(t, p, "jq-worker", "jq-server", types.ServiceConditionHealthy)
		requireDependsOn(t, p, "jq-worker", "jq-keys", types.ServiceConditionCompletedSuccessfully)
		require.Equal(t, types.ShellCommand{"migrate", "up"}, p.Services["jq-migrate"].Command)
		require.Equal(t, "false", env(p.Services["jq-server"], "JQ_DB_MIGRATE_ON_START"),
			"jq-server: jq-migrate applies the migrations; a server migrating too would race it")
	})

	t.Run("WorkerKey", func(t *testing.T) {
		t.Parallel()
		// The worker reads the key jq-keys writes, through the same named volume.
		out := flagValue(p.Services["jq-keys"].Command, "--out")
		require.NotEmpty(t, out, "jq-keys: want --out FILE")
		require.Equal(t, "worker", flagValue(p.Services["jq-keys"].Command, "--role"))
		require.Equal(t, "admin", flagValue(p.Services["jq-keys-admin"].Command, "--role"))
		require.Equal(t, out, env(p.Services["jq-worker"], "JQ_TOKEN_FILE"), "jq-worker JQ_TOKEN_FILE: want the file jq-keys writes")
		keysVol := volumeAt(t, p.Services["jq-keys"], filepath.Dir(out))
		workerVol := volumeAt(t, p.Services["jq-worker"], filepath.Dir(out))
		require.Equal(t, types.VolumeTypeVolume, keysVol.Type, "jq-keys %s: want a named volume", filepath.Dir(out))
		require.Equal(t, keysVol.Source, workerVol.Source, "jq-worker must mount the volume jq-keys writes to")
		require.True(t, workerVol.ReadOnly, "jq-worker: mount the keys read-only")

		// The image the key steps run must have that directory, owned by its user, or a fresh
		// volume mounted there is root's and the step cannot write (images_test.go checks the
		// built image where Docker answers).
		df := string(readRepoFile(t, "deploy/docker/Dockerfile.server"))
		require.Contains(t, df, "/owned"+filepath.Dir(out), "Dockerfile.server: want %s prepared in the rootfs stage", filepath.Dir(out))
		require.Contains(t, df, "COPY --from=rootfs --chown=1001:1001 /owned/ /", "Dockerfile.server: want it copied owned by uid 1001")
	})

	t.Run("JqEnvironment", func(t *testing.T) {
		t.Parallel()
		known := map[string]bool{}
		for _, svc := range []config.Service{config.ServiceServer, config.ServiceWorker} {
			for _, f := range config.Default(svc).Fields() {
				known[f.Env] = true
			}
		}
		for _, name := range sortedKeys(p.Services) {
			if !strings.HasPrefix(name, "jq-") {
				continue
			}
			s := p.Services[name]
			for _, key := range sortedKeys(s.Environment) {
				require.Truef(t, known[key], "service %s env %s: not a setting jq reads (internal/config)", name, key)
			}
			requireJqAddresses(t, p, name)
		}
	})
}

// requireKafkaKRaft: one node that is broker and controller, no ZooKeeper.
func requireKafkaKRaft(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	roles := strings.Split(env(s, "KAFKA_PROCESS_ROLES"), ",")
	require.ElementsMatch(t, []string{"broker", "controller"}, roles, "kafka KAFKA_PROCESS_ROLES")
	require.NotEmpty(t, env(s, "KAFKA_CONTROLLER_QUORUM_VOTERS"), "kafka: KRaft needs KAFKA_CONTROLLER_QUORUM_VOTERS")
	for key := range s.Environment {
		require.NotContainsf(t, key, "ZOOKEEPER", "kafka env %s: want KRaft only", key)
	}
	// A client on the host is sent to the advertised PLAINTEXT address: it must be a published
	// port that leads to the PLAINTEXT listener.
	var hostAddr string
	for _, l := range strings.Split(env(s, "KAFKA_ADVERTISED_LISTENERS"), ",") {
		if name, addr, ok := strings.Cut(l, "://"); ok && name == "PLAINTEXT" {
			hostAddr = addr
		}
	}
	_, port, err := net.SplitHostPort(hostAddr)
	require.NoErrorf(t, err, "kafka advertised PLAINTEXT listener %q", hostAddr)
	var published bool
	for _, pm := range s.Ports {
		published = published || (pm.Published == port && pm.Target == 9092)
	}
	require.Truef(t, published, "kafka advertises localhost:%s to the host: want host port %s published to the listener on 9092 (ports: %v)", port, port, s.Ports)
}

// requireJqAddresses: the addresses a jq service is given name services of the same stack, and
// the database credentials are the postgres service's.
func requireJqAddresses(t *testing.T, p *types.Project, name string) {
	t.Helper()
	s := p.Services[name]
	if raw := env(s, "JQ_DB_URL"); raw != "" {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		pg, ok := p.Services[u.Hostname()]
		require.Truef(t, ok, "service %s JQ_DB_URL host %s: not a service of the stack", name, u.Hostname())
		pass, _ := u.User.Password()
		require.Equalf(t,
			[]string{env(pg, "POSTGRES_USER"), env(pg, "POSTGRES_PASSWORD"), env(pg, "POSTGRES_DB")},
			[]string{u.User.Username(), pass, strings.TrimPrefix(u.Path, "/")},
			"service %s JQ_DB_URL user/password/database", name)
	}
	for _, key := range []string{"JQ_REDIS_ADDR", "JQ_SERVER_ADDR", "JQ_KAFKA_BROKERS"} {
		for _, addr := range strings.Split(env(s, key), ",") {
			if addr == "" {
				continue
			}
			host, _, err := net.SplitHostPort(addr)
			require.NoErrorf(t, err, "service %s %s=%q", name, key, addr)
			_, ok := p.Services[host]
			require.Truef(t, ok, "service %s %s host %s: not a service of the stack", name, key, host)
		}
	}
}

func requireBind(t *testing.T, s types.ServiceConfig, rel, target string) {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			require.Equalf(t, repoPath(t, rel), v.Source, "service %s mount at %s", s.Name, target)
			requireExists(t, rel, "service "+s.Name+" mount")
			return
		}
	}
	require.Failf(t, "mount missing", "service %s: got no bind mount at %s, want ./%s there", s.Name, target, rel)
}

func requireDependsOn(t *testing.T, p *types.Project, svc, dep, condition string) {
	t.Helper()
	d, ok := p.Services[svc].DependsOn[dep]
	require.Truef(t, ok, "service %s: want depends_on %s", svc, dep)
	require.Equalf(t, condition, d.Condition, "service %s depends_on %s condition", svc, dep)
}

func volumeAt(t *testing.T, s types.ServiceConfig, target string) types.ServiceVolumeConfig {
	t.Helper()
	i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == target })
	require.GreaterOrEqualf(t, i, 0, "service %s: got no volume at %s", s.Name, target)
	return s.Volumes[i]
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// flagValue returns the argument after flag in a command, or "".
func flagValue(cmd types.ShellCommand, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// TestCompose_IndependentOfEnvironment: loaded the way `docker compose` loads them from a
// developer's shell (the process environment, and a .env file in the project folder if there
// is one), the stacks are exactly what the tests above checked with an empty environment.
func TestCompose_IndependentOfEnvironment(t *testing.T) {
	t.Parallel()
	for _, file := range []string{devCompose, testCompose} {
		opts, err := cli.NewProjectOptions([]string{repoPath(t, file)},
			cli.WithWorkingDirectory(repoRoot(t)), cli.WithOsEnv, cli.WithDotEnv, cli.WithResolvedPaths(true))
		require.NoError(t, err)
		withEnv, err := opts.LoadProject(context.Background())
		require.NoErrorf(t, err, "%s with the process environment", file)
		require.Equalf(t, loadCompose(t, file).Services, withEnv.Services, "%s depends on the environment it is run from", file)
	}
}
