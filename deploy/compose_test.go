package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// Paths are relative to the repository root, which is ".." from this
// package's directory (go test runs tests in the package directory).
const (
	devComposePath  = "docker-compose.yml"
	testComposePath = "docker-compose.test.yml"
	promLocalPath   = "deploy/prometheus/prometheus.local.yml"

	networkKey       = "jq-network"
	conditionHealthy = "service_healthy"
	conditionStarted = "service_started"
)

func TestCompose_BackingServices(t *testing.T) {
	t.Parallel()
	dev := loadCompose(t, devComposePath)
	services := resolveServices(t, devComposePath, dev)

	t.Run("NoVersionKey", func(t *testing.T) {
		t.Parallel()
		require.Nilf(t, dev.Version, "top-level version: got %v, want no version key (obsolete in the Compose Specification)", dev.Version)
	})

	t.Run("ServicesExact", func(t *testing.T) {
		t.Parallel()
		want := []string{"grafana", "kafka", "postgres", "prometheus", "redis"}
		got := sortedKeys(dev.Services)
		require.Equalf(t, want, got, "services: got %v, want %v", got, want)
	})

	t.Run("ImagesPinned", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			requirePinnedImage(t, name, services[name].Image)
		}
	})

	t.Run("ImageMajorVersions", func(t *testing.T) {
		t.Parallel()
		for name, wantMajor := range map[string]int{"postgres": 15, "redis": 7} {
			img := services[name].Image
			got, ok := imageMajor(img)
			require.Truef(t, ok, "service %s image %q: got no numeric tag, want major version %d", name, img, wantMajor)
			require.Equalf(t, wantMajor, got, "service %s image %q major version: got %d, want %d", name, img, got, wantMajor)
		}
	})

	t.Run("Healthchecks", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			requireHealthcheck(t, name, services[name])
		}
	})

	t.Run("RestartPolicy", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			got := services[name].Restart
			require.Equalf(t, "unless-stopped", got, "service %s restart: got %q, want %q", name, got, "unless-stopped")
		}
	})

	t.Run("Network", func(t *testing.T) {
		t.Parallel()
		requireOnNetwork(t, dev, services)
		got := dev.Networks[networkKey].Name
		require.Equalf(t, networkKey, got, "networks.%s.name: got %q, want %q", networkKey, got, networkKey)
		gotDriver := dev.Networks[networkKey].Driver
		require.Equalf(t, "bridge", gotDriver, "networks.%s.driver: got %q, want %q", networkKey, gotDriver, "bridge")
	})

	t.Run("KafkaKRaft", func(t *testing.T) {
		t.Parallel()
		kafka := services["kafka"]
		roles, ok := kafkaSetting(kafka.Environment, "PROCESS_ROLES")
		require.Truef(t, ok, "kafka PROCESS_ROLES: got unset, want broker,controller (KRaft combined mode)")
		gotRoles := splitList(roles)
		for _, want := range []string{"broker", "controller"} {
			require.Containsf(t, gotRoles, want, "kafka PROCESS_ROLES: got %v, want it to contain %q", gotRoles, want)
		}
		for _, key := range []string{"NODE_ID", "CONTROLLER_QUORUM_VOTERS", "CONTROLLER_LISTENER_NAMES"} {
			v, ok := kafkaSetting(kafka.Environment, key)
			require.Truef(t, ok && v != "", "kafka %s: got %q, want it set for KRaft", key, v)
		}
		rf, _ := kafkaSetting(kafka.Environment, "OFFSETS_TOPIC_REPLICATION_FACTOR")
		require.Equalf(t, "1", rf, "kafka OFFSETS_TOPIC_REPLICATION_FACTOR: got %q, want %q (single broker)", rf, "1")
		autoCreate, _ := kafkaSetting(kafka.Environment, "AUTO_CREATE_TOPICS_ENABLE")
		require.Equalf(t, "true", autoCreate, "kafka AUTO_CREATE_TOPICS_ENABLE: got %q, want %q", autoCreate, "true")
		requireNoZooKeeper(t, services)
	})

	t.Run("KafkaListenersMatchPorts", func(t *testing.T) {
		t.Parallel()
		requireKafkaListeners(t, "kafka", services["kafka"])
	})

	t.Run("DependsOnHealthy", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			for _, dep := range sortedKeys(services[name].DependsOn) {
				_, ok := services[dep]
				require.Truef(t, ok, "service %s depends_on %s: got no such service, want one of %v", name, dep, sortedKeys(services))
				got := services[name].DependsOn[dep]
				require.Equalf(t, conditionHealthy, got, "service %s depends_on %s condition: got %q, want %q", name, dep, got, conditionHealthy)
			}
		}
		require.Containsf(t, services["grafana"].DependsOn, "prometheus", "grafana depends_on: got %v, want prometheus", services["grafana"].DependsOn)
	})

	t.Run("BindMountsExist", func(t *testing.T) {
		t.Parallel()
		requireBindMountsExist(t, devComposePath, services)
	})

	t.Run("NamedVolumesDeclared", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			for _, v := range services[name].Volumes.Items {
				if v.Type != "volume" || v.Source == "" {
					continue
				}
				_, ok := dev.Volumes[v.Source]
				require.Truef(t, ok, "service %s volume %q: got no top-level volumes.%s, want it declared", name, v.Source, v.Source)
			}
		}
		got := services["postgres"].Volumes.named()
		require.NotEmptyf(t, got, "postgres named volumes: got %v, want a named volume for the data directory", got)
	})

	t.Run("HostPortsUnique", func(t *testing.T) {
		t.Parallel()
		hostPorts(t, devComposePath, services)
	})

	t.Run("PrometheusDoesNotTakeJqMetricsPorts", func(t *testing.T) {
		t.Parallel()
		prom := services["prometheus"]
		pm, ok := findTarget(prom.Ports.Items, "9090")
		require.Truef(t, ok, "prometheus ports: got %v, want container port 9090 published", prom.Ports.Items)
		for _, jqPort := range []string{"9090", "9091"} {
			require.NotEqualf(t, jqPort, pm.Published, "prometheus host port: got %s, want a port other than 9090/9091 (used by jq-server/jq-worker metrics on the host)", pm.Published)
		}
		got := prom.ExtraHosts["host.docker.internal"]
		require.Equalf(t, "host-gateway", got, "prometheus extra_hosts host.docker.internal: got %q, want %q", got, "host-gateway")
	})

	t.Run("PrometheusMounts", func(t *testing.T) {
		t.Parallel()
		prom := services["prometheus"]
		want := map[string]string{
			"./" + promLocalPath: "/etc/prometheus/prometheus.yml",
			"./rules":            "/etc/prometheus/rules",
		}
		for src, target := range want {
			v, ok := prom.Volumes.bySource(src)
			require.Truef(t, ok, "prometheus volumes: got %v, want %s mounted", prom.Volumes.Items, src)
			require.Equalf(t, target, v.Target, "prometheus mount of %s: got target %q, want %q", src, v.Target, target)
		}
	})

	t.Run("GrafanaMounts", func(t *testing.T) {
		t.Parallel()
		graf := services["grafana"]
		want := map[string]string{
			"./dashboards":              "/var/lib/grafana/dashboards",
			"./dashboards/provisioning": "/etc/grafana/provisioning",
		}
		for src, target := range want {
			v, ok := graf.Volumes.bySource(src)
			require.Truef(t, ok, "grafana volumes: got %v, want %s mounted", graf.Volumes.Items, src)
			require.Equalf(t, target, v.Target, "grafana mount of %s: got target %q, want %q", src, v.Target, target)
		}
	})
}

func TestCompose_TestFile(t *testing.T) {
	t.Parallel()
	dev := loadCompose(t, devComposePath)
	devServices := resolveServices(t, devComposePath, dev)
	tf := loadCompose(t, testComposePath)
	services := resolveServices(t, testComposePath, tf)

	t.Run("NoVersionKey", func(t *testing.T) {
		t.Parallel()
		require.Nilf(t, tf.Version, "top-level version: got %v, want no version key", tf.Version)
	})

	t.Run("ProjectNameDiffersFromDev", func(t *testing.T) {
		t.Parallel()
		// Both files live in the same folder: with the same (or the default)
		// project name, starting the test stack would replace the dev
		// containers.
		require.NotEmptyf(t, tf.Name, "top-level name: got %q, want a project name", tf.Name)
		require.NotEqualf(t, dev.Name, tf.Name, "top-level name: got %q, want a name other than the dev stack's %q", tf.Name, dev.Name)
	})

	t.Run("ServicesExact", func(t *testing.T) {
		t.Parallel()
		want := []string{"jq-server", "jq-worker", "kafka", "postgres", "redis"}
		got := sortedKeys(tf.Services)
		require.Equalf(t, want, got, "services: got %v, want %v", got, want)
	})

	t.Run("ExtendsTargetsExist", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(tf.Services) {
			ext := tf.Services[name].Extends
			if ext == nil {
				continue
			}
			require.NotEmptyf(t, ext.File, "service %s extends.file: got %q, want a file", name, ext.File)
			require.NotEmptyf(t, ext.Service, "service %s extends.service: got %q, want a service", name, ext.Service)
			path := siblingPath(testComposePath, ext.File)
			_, err := os.Stat(repoPath(t, path))
			require.NoErrorf(t, err, "service %s extends.file %q: got %v, want an existing file", name, ext.File, err)
			base := loadCompose(t, path)
			_, ok := base.Services[ext.Service]
			require.Truef(t, ok, "service %s extends.service %q: got no such service in %s, want one of %v", name, ext.Service, ext.File, sortedKeys(base.Services))
		}
	})

	t.Run("BackingServicesExtendDev", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"postgres", "redis", "kafka"} {
			ext := tf.Services[name].Extends
			require.NotNilf(t, ext, "service %s extends: got none, want docker-compose.yml service %s", name, name)
			got := filepath.ToSlash(filepath.Clean(ext.File))
			require.Equalf(t, devComposePath, got, "service %s extends.file: got %q, want %q", name, got, devComposePath)
			require.Equalf(t, name, ext.Service, "service %s extends.service: got %q, want %q", name, ext.Service, name)
		}
	})

	t.Run("JqServicesBuild", func(t *testing.T) {
		t.Parallel()
		want := map[string]string{
			"jq-server": "deploy/docker/Dockerfile.server",
			"jq-worker": "deploy/docker/Dockerfile.worker",
		}
		for name, dockerfile := range want {
			b := services[name].Build
			require.NotNilf(t, b, "service %s build: got none, want a build section", name)
			require.NotEmptyf(t, b.Context, "service %s build.context: got %q, want a directory", name, b.Context)
			info, err := os.Stat(repoPath(t, siblingPath(testComposePath, b.Context)))
			require.NoErrorf(t, err, "service %s build.context %q: got %v, want an existing directory", name, b.Context, err)
			require.Truef(t, info.IsDir(), "service %s build.context %q: got a file, want a directory", name, b.Context)
			// The Dockerfiles themselves are written separately, so only the
			// reference is checked here, not that the file exists.
			require.Equalf(t, dockerfile, b.Dockerfile, "service %s build.dockerfile: got %q, want %q", name, b.Dockerfile, dockerfile)
		}
	})

	t.Run("HostPortsDoNotCollideWithDev", func(t *testing.T) {
		t.Parallel()
		devPorts := hostPorts(t, devComposePath, devServices)
		testPorts := hostPorts(t, testComposePath, services)
		for _, port := range sortedKeys(testPorts) {
			devOwner, clash := devPorts[port]
			require.Falsef(t, clash, "host port %s of test service %s: got a collision with dev service %s, want a port the dev stack does not publish", port, testPorts[port], devOwner)
		}
		// The shifted ports the e2e tests rely on.
		want := map[string]string{"postgres": "15432", "redis": "16379", "kafka": "19092"}
		for name, port := range want {
			got := testPorts[port+"/tcp"]
			require.Equalf(t, name, got, "host port %s: got it published by %q, want %q", port, got, name)
		}
	})

	t.Run("NoNamedVolumes", func(t *testing.T) {
		t.Parallel()
		require.Emptyf(t, tf.Volumes, "top-level volumes: got %v, want none", sortedKeys(tf.Volumes))
		for _, name := range sortedKeys(services) {
			got := services[name].Volumes.named()
			require.Emptyf(t, got, "service %s named volumes (after extends): got %v, want none", name, got)
		}
	})

	t.Run("Healthchecks", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"postgres", "redis", "kafka"} {
			requireHealthcheck(t, name, services[name])
		}
	})

	t.Run("DependsOn", func(t *testing.T) {
		t.Parallel()
		for _, name := range sortedKeys(services) {
			for _, dep := range sortedKeys(services[name].DependsOn) {
				target, ok := services[dep]
				require.Truef(t, ok, "service %s depends_on %s: got no such service, want one of %v", name, dep, sortedKeys(services))
				got := services[name].DependsOn[dep]
				if target.Healthcheck.enabled() {
					require.Equalf(t, conditionHealthy, got, "service %s depends_on %s condition: got %q, want %q (it has a healthcheck)", name, dep, got, conditionHealthy)
				} else {
					// Compose refuses service_healthy on a service without a
					// healthcheck.
					require.Equalf(t, conditionStarted, got, "service %s depends_on %s condition: got %q, want %q (it has no healthcheck)", name, dep, got, conditionStarted)
				}
			}
		}
		for _, name := range []string{"jq-server", "jq-worker"} {
			for _, dep := range []string{"postgres", "redis", "kafka"} {
				got := services[name].DependsOn[dep]
				require.Equalf(t, conditionHealthy, got, "service %s depends_on %s: got %q, want %q", name, dep, got, conditionHealthy)
			}
		}
	})

	t.Run("Network", func(t *testing.T) {
		t.Parallel()
		requireOnNetwork(t, tf, services)
		got, devName := tf.Networks[networkKey].Name, dev.Networks[networkKey].Name
		require.NotEqualf(t, devName, got, "networks.%s.name: got %q, want a name other than the dev stack's %q (shared networks make service names ambiguous)", networkKey, got, devName)
	})

	t.Run("KafkaListenersMatchPorts", func(t *testing.T) {
		t.Parallel()
		requireKafkaListeners(t, "kafka", services["kafka"])
		requireNoZooKeeper(t, services)
	})

	t.Run("JqServicesEnvironment", func(t *testing.T) {
		t.Parallel()
		want := map[string][]string{
			"jq-server": {"JQ_DB_URL", "JQ_KAFKA_BROKERS", "JQ_REDIS_ADDR"},
			"jq-worker": {"JQ_DB_URL", "JQ_KAFKA_BROKERS", "JQ_REDIS_ADDR", "JQ_SERVER_ADDR"},
		}
		for _, name := range sortedKeys(services) {
			if !strings.HasPrefix(name, "jq-") {
				continue
			}
			env := services[name].Environment.Vars
			for _, key := range sortedKeys(env) {
				require.Truef(t, strings.HasPrefix(key, "JQ_"), "service %s env %s: got a name without the JQ_ prefix, want JQ_*", name, key)
			}
			for _, key := range want[name] {
				require.NotEmptyf(t, env[key], "service %s env %s: got %q, want it set", name, key, env[key])
			}
			requireJqAddresses(t, name, env, services)
		}
	})
}

func TestPrometheusLocalConfig(t *testing.T) {
	t.Parallel()
	var cfg promConfig
	decodeYAMLFile(t, promLocalPath, &cfg)

	t.Run("ScrapeInterval", func(t *testing.T) {
		t.Parallel()
		got := cfg.Global.ScrapeInterval
		require.Equalf(t, "15s", got, "global.scrape_interval: got %q, want %q", got, "15s")
	})

	t.Run("ScrapeJobs", func(t *testing.T) {
		t.Parallel()
		want := map[string]string{
			"jq-server":  "host.docker.internal:9090",
			"jq-worker":  "host.docker.internal:9091",
			"prometheus": "localhost:9090",
		}
		jobs := cfg.targetsByJob()
		for job, target := range want {
			got, ok := jobs[job]
			require.Truef(t, ok, "scrape job %s: got jobs %v, want it present", job, sortedKeys(jobs))
			require.Containsf(t, got, target, "scrape job %s targets: got %v, want %s", job, got, target)
		}
	})

	t.Run("RuleFiles", func(t *testing.T) {
		t.Parallel()
		require.NotEmptyf(t, cfg.RuleFiles, "rule_files: got %v, want at least one pattern", cfg.RuleFiles)
		// The patterns must point into the folder that docker-compose.yml
		// mounts from ./rules, or no rule is ever loaded.
		dev := loadCompose(t, devComposePath)
		rules, ok := dev.Services["prometheus"].Volumes.bySource("./rules")
		require.Truef(t, ok, "prometheus volumes in %s: got %v, want ./rules mounted", devComposePath, dev.Services["prometheus"].Volumes.Items)
		for _, pattern := range cfg.RuleFiles {
			require.Truef(t, strings.HasPrefix(pattern, rules.Target+"/"), "rule_files entry: got %q, want a pattern under %s/", pattern, rules.Target)
			_, err := filepath.Match(pattern, "")
			require.NoErrorf(t, err, "rule_files entry %q: got %v, want a valid glob", pattern, err)
		}
	})

	t.Run("NoAlertmanager", func(t *testing.T) {
		t.Parallel()
		// The local stack has no Alertmanager: one configured here would only
		// produce connection errors.
		var got []any
		if cfg.Alerting != nil {
			got = cfg.Alerting.Alertmanagers
		}
		require.Emptyf(t, got, "alerting.alertmanagers: got %v, want none locally", got)
	})
}

// ---------------------------------------------------------------------------
// Compose model: only the parts the tests look at.

type composeFile struct {
	Version  any                        `yaml:"version"`
	Name     string                     `yaml:"name"`
	Services map[string]composeService  `yaml:"services"`
	Networks map[string]*composeNetwork `yaml:"networks"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeNetwork struct {
	Name   string `yaml:"name"`
	Driver string `yaml:"driver"`
}

type composeService struct {
	Image       string          `yaml:"image"`
	Build       *composeBuild   `yaml:"build"`
	Extends     *composeExtends `yaml:"extends"`
	Environment envMap          `yaml:"environment"`
	Ports       portList        `yaml:"ports"`
	Volumes     volumeList      `yaml:"volumes"`
	Tmpfs       stringList      `yaml:"tmpfs"`
	DependsOn   dependsOn       `yaml:"depends_on"`
	Healthcheck *healthcheck    `yaml:"healthcheck"`
	Networks    serviceNetworks `yaml:"networks"`
	ExtraHosts  extraHosts      `yaml:"extra_hosts"`
	Restart     string          `yaml:"restart"`
}

type composeExtends struct {
	File    string `yaml:"file"`
	Service string `yaml:"service"`
}

// composeBuild accepts both `build: ./dir` and `build: {context, dockerfile}`.
type composeBuild struct {
	Context    string
	Dockerfile string
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	var raw struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	b.Context, b.Dockerfile = raw.Context, raw.Dockerfile
	return nil
}

type healthcheck struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

func (h *healthcheck) enabled() bool {
	return h != nil && !h.Disable && len(h.Test.Items) > 0 && h.Test.Items[0] != "NONE"
}

// mergeMode is how a local value combines with the one it extends: Compose
// appends sequences unless the local one is tagged !override or !reset.
type mergeMode int

const (
	mergeAppend mergeMode = iota
	mergeOverride
	mergeReset
)

func nodeMergeMode(n *yaml.Node) mergeMode {
	switch n.Tag {
	case "!override":
		return mergeOverride
	case "!reset":
		return mergeReset
	default:
		return mergeAppend
	}
}

func mergeSeq[T any](base []T, mode mergeMode, local []T) []T {
	if mode != mergeAppend {
		return slices.Clone(local)
	}
	return append(slices.Clone(base), local...)
}

// stringList accepts a single string or a sequence of strings.
type stringList struct {
	Mode  mergeMode
	Items []string
}

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	l.Mode = nodeMergeMode(n)
	if l.Mode == mergeReset {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		l.Items = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		l.Items = nil
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: got a %s, want a string", c.Line, kindName(c.Kind))
			}
			l.Items = append(l.Items, c.Value)
		}
		return nil
	default:
		return fmt.Errorf("line %d: got a %s, want a string or a sequence", n.Line, kindName(n.Kind))
	}
}

// envMap accepts both `environment: {K: V}` and `environment: ["K=V"]`.
type envMap struct {
	Mode mergeMode
	Vars map[string]string
}

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	e.Mode = nodeMergeMode(n)
	e.Vars = map[string]string{}
	if e.Mode == mergeReset {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: environment %s: got a %s, want a scalar", v.Line, k.Value, kindName(v.Kind))
			}
			e.Vars[k.Value] = scalarString(v)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			key, value, _ := strings.Cut(c.Value, "=")
			e.Vars[key] = value
		}
	default:
		return fmt.Errorf("line %d: environment: got a %s, want a mapping or a sequence", n.Line, kindName(n.Kind))
	}
	return nil
}

// dependsOn maps a dependency to its condition. The short (list) form means
// service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			(*d)[c.Value] = conditionStarted
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var dep struct {
				Condition string `yaml:"condition"`
			}
			if err := n.Content[i+1].Decode(&dep); err != nil {
				return err
			}
			if dep.Condition == "" {
				dep.Condition = conditionStarted
			}
			(*d)[n.Content[i].Value] = dep.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on: got a %s, want a mapping or a sequence", n.Line, kindName(n.Kind))
	}
	return nil
}

// serviceNetworks accepts both `networks: [a]` and `networks: {a: {...}}`.
type serviceNetworks []string

func (s *serviceNetworks) UnmarshalYAML(n *yaml.Node) error {
	*s = nil
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			*s = append(*s, c.Value)
		}
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			*s = append(*s, n.Content[i].Value)
		}
	default:
		return fmt.Errorf("line %d: networks: got a %s, want a mapping or a sequence", n.Line, kindName(n.Kind))
	}
	return nil
}

// extraHosts accepts both `["name:ip"]` (or "name=ip") and `{name: ip}`.
type extraHosts map[string]string

func (e *extraHosts) UnmarshalYAML(n *yaml.Node) error {
	*e = extraHosts{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			i := strings.IndexAny(c.Value, ":=")
			if i < 0 {
				return fmt.Errorf("line %d: extra_hosts %q: got no separator, want name:ip", c.Line, c.Value)
			}
			(*e)[c.Value[:i]] = c.Value[i+1:]
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			(*e)[n.Content[i].Value] = scalarString(n.Content[i+1])
		}
	default:
		return fmt.Errorf("line %d: extra_hosts: got a %s, want a mapping or a sequence", n.Line, kindName(n.Kind))
	}
	return nil
}

type portMapping struct {
	HostIP    string
	Published string
	Target    string
	Protocol  string
}

func (p portMapping) String() string {
	return fmt.Sprintf("%s:%s->%s/%s", p.HostIP, p.Published, p.Target, p.Protocol)
}

// portList accepts the short ("[ip:]host:container[/proto]") and the long
// ({target, published, host_ip, protocol}) port syntax.
type portList struct {
	Mode  mergeMode
	Items []portMapping
}

func (l *portList) UnmarshalYAML(n *yaml.Node) error {
	l.Mode = nodeMergeMode(n)
	l.Items = nil
	if l.Mode == mergeReset {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: ports: got a %s, want a sequence", n.Line, kindName(n.Kind))
	}
	for _, c := range n.Content {
		switch c.Kind {
		case yaml.ScalarNode:
			l.Items = append(l.Items, parseShortPort(c.Value))
		case yaml.MappingNode:
			var raw struct {
				Target    string `yaml:"target"`
				Published string `yaml:"published"`
				HostIP    string `yaml:"host_ip"`
				Protocol  string `yaml:"protocol"`
			}
			if err := c.Decode(&raw); err != nil {
				return err
			}
			if raw.Protocol == "" {
				raw.Protocol = "tcp"
			}
			l.Items = append(l.Items, portMapping{HostIP: raw.HostIP, Published: raw.Published, Target: raw.Target, Protocol: raw.Protocol})
		default:
			return fmt.Errorf("line %d: ports entry: got a %s, want a string or a mapping", c.Line, kindName(c.Kind))
		}
	}
	return nil
}

func parseShortPort(s string) portMapping {
	pm := portMapping{Protocol: "tcp"}
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s, pm.Protocol = s[:i], s[i+1:]
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		pm.Target = s
		return pm
	}
	s, pm.Target = s[:i], s[i+1:]
	if j := strings.LastIndex(s, ":"); j >= 0 {
		pm.HostIP = strings.Trim(s[:j], "[]")
		s = s[j+1:]
	}
	pm.Published = s
	return pm
}

type volumeMount struct {
	Type     string // "bind" or "volume"
	Source   string
	Target   string
	ReadOnly bool
}

// volumeList accepts the short ("src:dst[:mode]") and the long
// ({type, source, target, read_only}) volume syntax.
type volumeList struct {
	Mode  mergeMode
	Items []volumeMount
}

func (l *volumeList) UnmarshalYAML(n *yaml.Node) error {
	l.Mode = nodeMergeMode(n)
	l.Items = nil
	if l.Mode == mergeReset {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: volumes: got a %s, want a sequence", n.Line, kindName(n.Kind))
	}
	for _, c := range n.Content {
		switch c.Kind {
		case yaml.ScalarNode:
			l.Items = append(l.Items, parseShortVolume(c.Value))
		case yaml.MappingNode:
			var raw struct {
				Type     string `yaml:"type"`
				Source   string `yaml:"source"`
				Target   string `yaml:"target"`
				ReadOnly bool   `yaml:"read_only"`
			}
			if err := c.Decode(&raw); err != nil {
				return err
			}
			l.Items = append(l.Items, volumeMount(raw))
		default:
			return fmt.Errorf("line %d: volumes entry: got a %s, want a string or a mapping", c.Line, kindName(c.Kind))
		}
	}
	return nil
}

func parseShortVolume(s string) volumeMount {
	parts := strings.Split(s, ":")
	if len(parts) == 1 {
		return volumeMount{Type: "volume", Target: parts[0]} // anonymous volume
	}
	v := volumeMount{Source: parts[0], Target: parts[1], Type: "volume"}
	if strings.HasPrefix(v.Source, ".") || strings.HasPrefix(v.Source, "/") || strings.HasPrefix(v.Source, "~") {
		v.Type = "bind"
	}
	if len(parts) > 2 {
		v.ReadOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
	}
	return v
}

func (l volumeList) bySource(src string) (volumeMount, bool) {
	for _, v := range l.Items {
		if v.Source == src {
			return v, true
		}
	}
	return volumeMount{}, false
}

func (l volumeList) named() []string {
	var out []string
	for _, v := range l.Items {
		if v.Type == "volume" && v.Source != "" {
			out = append(out, v.Source)
		}
	}
	return out
}

// mergeService applies local on top of base the way `extends` does for the
// attributes modelled here.
func mergeService(base, local composeService) composeService {
	out := base
	out.Extends = nil
	if local.Image != "" {
		out.Image = local.Image
	}
	if local.Build != nil {
		out.Build = local.Build
	}
	if local.Restart != "" {
		out.Restart = local.Restart
	}
	if local.Healthcheck != nil {
		out.Healthcheck = local.Healthcheck
	}
	out.Environment = envMap{Vars: map[string]string{}}
	if local.Environment.Mode == mergeAppend {
		for k, v := range base.Environment.Vars {
			out.Environment.Vars[k] = v
		}
	}
	for k, v := range local.Environment.Vars {
		out.Environment.Vars[k] = v
	}
	out.Ports = portList{Items: mergeSeq(base.Ports.Items, local.Ports.Mode, local.Ports.Items)}
	out.Volumes = volumeList{Items: mergeSeq(base.Volumes.Items, local.Volumes.Mode, local.Volumes.Items)}
	out.Tmpfs = stringList{Items: mergeSeq(base.Tmpfs.Items, local.Tmpfs.Mode, local.Tmpfs.Items)}
	out.DependsOn = dependsOn{}
	for _, m := range []dependsOn{base.DependsOn, local.DependsOn} {
		for k, v := range m {
			out.DependsOn[k] = v
		}
	}
	out.Networks = slices.Clone(base.Networks)
	for _, nw := range local.Networks {
		if !slices.Contains(out.Networks, nw) {
			out.Networks = append(out.Networks, nw)
		}
	}
	out.ExtraHosts = extraHosts{}
	for _, m := range []extraHosts{base.ExtraHosts, local.ExtraHosts} {
		for k, v := range m {
			out.ExtraHosts[k] = v
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Prometheus model.

type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
	Alerting *struct {
		Alertmanagers []any `yaml:"alertmanagers"`
	} `yaml:"alerting"`
}

func (c promConfig) targetsByJob() map[string][]string {
	out := map[string][]string{}
	for _, sc := range c.ScrapeConfigs {
		targets := []string{}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		out[sc.JobName] = append(out[sc.JobName], targets...)
	}
	return out
}

// ---------------------------------------------------------------------------
// Helpers.

// repoPath turns a repository-relative path into an absolute one.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", filepath.FromSlash(rel)))
	require.NoErrorf(t, err, "resolve %s: got %v, want no error", rel, err)
	return abs
}

// siblingPath resolves ref relative to the folder of the repository-relative
// file from, the way Compose resolves paths in a compose file.
func siblingPath(from, ref string) string {
	return filepath.ToSlash(filepath.Join(filepath.Dir(filepath.FromSlash(from)), filepath.FromSlash(ref)))
}

func decodeYAMLFile(t *testing.T, rel string, out any) {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, rel))
	require.NoErrorf(t, err, "read %s: got %v, want no error", rel, err)
	err = yaml.Unmarshal(data, out)
	require.NoErrorf(t, err, "parse %s: got %v, want valid YAML", rel, err)
}

func loadCompose(t *testing.T, rel string) composeFile {
	t.Helper()
	var f composeFile
	decodeYAMLFile(t, rel, &f)
	require.NotEmptyf(t, f.Services, "%s services: got none, want at least one", rel)
	return f
}

// resolveServices returns the services of f (loaded from the repository-
// relative path rel) with every `extends` applied.
func resolveServices(t *testing.T, rel string, f composeFile) map[string]composeService {
	t.Helper()
	out := make(map[string]composeService, len(f.Services))
	for name, svc := range f.Services {
		out[name] = resolveService(t, rel, f, name, svc, 0)
	}
	return out
}

func resolveService(t *testing.T, rel string, f composeFile, name string, svc composeService, depth int) composeService {
	t.Helper()
	if svc.Extends == nil {
		return svc
	}
	require.Lessf(t, depth, 8, "service %s in %s: got an extends chain deeper than 8, want no cycle", name, rel)
	baseRel, baseFile := rel, f
	if svc.Extends.File != "" {
		baseRel = siblingPath(rel, svc.Extends.File)
		baseFile = loadCompose(t, baseRel)
	}
	base, ok := baseFile.Services[svc.Extends.Service]
	require.Truef(t, ok, "service %s in %s extends %s: got no such service in %s, want one of %v", name, rel, svc.Extends.Service, baseRel, sortedKeys(baseFile.Services))
	base = resolveService(t, baseRel, baseFile, svc.Extends.Service, base, depth+1)
	return mergeService(base, svc)
}

func requirePinnedImage(t *testing.T, service, image string) {
	t.Helper()
	require.NotEmptyf(t, image, "service %s image: got %q, want an image", service, image)
	if strings.Contains(image, "@sha256:") {
		return
	}
	tag := imageTag(image)
	require.NotEmptyf(t, tag, "service %s image %q: got no tag, want a pinned tag", service, image)
	require.NotEqualf(t, "latest", tag, "service %s image %q: got tag latest, want a pinned tag", service, image)
}

// imageTag returns the tag of an image reference, or "" if it has none.
func imageTag(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || i < strings.LastIndex(image, "/") {
		return "" // no colon, or the colon belongs to a registry host:port
	}
	return image[i+1:]
}

// imageMajor returns the leading number of the image tag ("15" -> 15,
// "7-alpine" -> 7, "v2.55.1" -> 2).
func imageMajor(image string) (int, bool) {
	tag := strings.TrimPrefix(imageTag(image), "v")
	end := strings.IndexFunc(tag, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(tag)
	}
	n, err := strconv.Atoi(tag[:end])
	return n, err == nil
}

func requireHealthcheck(t *testing.T, name string, svc composeService) {
	t.Helper()
	require.NotNilf(t, svc.Healthcheck, "service %s healthcheck: got none, want one", name)
	require.Truef(t, svc.Healthcheck.enabled(), "service %s healthcheck.test: got %v (disable=%v), want a command", name, svc.Healthcheck.Test.Items, svc.Healthcheck.Disable)
	items := svc.Healthcheck.Test.Items
	if items[0] == "CMD" || items[0] == "CMD-SHELL" {
		require.Greaterf(t, len(items), 1, "service %s healthcheck.test: got %v, want a command after %s", name, items, items[0])
		require.NotEmptyf(t, strings.TrimSpace(items[1]), "service %s healthcheck.test: got %v, want a non-empty command", name, items)
	}
}

// requireOnNetwork checks that every service joins jq-network and that the
// network is declared at the top level.
func requireOnNetwork(t *testing.T, f composeFile, services map[string]composeService) {
	t.Helper()
	nw, ok := f.Networks[networkKey]
	require.Truef(t, ok && nw != nil, "top-level networks: got %v, want %s declared with a name", sortedKeys(f.Networks), networkKey)
	for _, name := range sortedKeys(services) {
		got := services[name].Networks
		require.Containsf(t, got, networkKey, "service %s networks: got %v, want %s", name, got, networkKey)
		for _, nwName := range got {
			_, ok := f.Networks[nwName]
			require.Truef(t, ok, "service %s network %s: got no top-level declaration, want one", name, nwName)
		}
	}
}

// kafkaSetting reads a broker setting from the environment, whichever image
// convention is used (KAFKA_X for apache/confluent, KAFKA_CFG_X for bitnami).
func kafkaSetting(env envMap, key string) (string, bool) {
	for _, prefix := range []string{"KAFKA_", "KAFKA_CFG_"} {
		if v, ok := env.Vars[prefix+key]; ok {
			return v, true
		}
	}
	return "", false
}

func requireNoZooKeeper(t *testing.T, services map[string]composeService) {
	t.Helper()
	for _, name := range sortedKeys(services) {
		require.NotContainsf(t, strings.ToLower(name), "zookeeper", "service %s: got a ZooKeeper service, want KRaft only", name)
		for key := range services[name].Environment.Vars {
			require.NotContainsf(t, strings.ToUpper(key), "ZOOKEEPER", "service %s env %s: got a ZooKeeper setting, want KRaft only", name, key)
		}
	}
}

type kafkaListener struct {
	Host string
	Port string
}

// parseListeners parses "NAME://host:port,NAME2://host:port".
func parseListeners(t *testing.T, setting, value string) map[string]kafkaListener {
	t.Helper()
	out := map[string]kafkaListener{}
	for _, item := range splitList(value) {
		name, addr, ok := strings.Cut(item, "://")
		require.Truef(t, ok, "kafka %s entry %q: got no NAME://, want NAME://host:port", setting, item)
		host, port, err := net.SplitHostPort(addr)
		require.NoErrorf(t, err, "kafka %s entry %q: got %v, want NAME://host:port", setting, item, err)
		out[name] = kafkaListener{Host: host, Port: port}
	}
	return out
}

// requireKafkaListeners checks that every advertised listener is reachable by
// the clients it is advertised to: host-facing ones (localhost) through a
// published port that maps to the listener's container port, in-network ones
// (the service name) on the listener's own port.
func requireKafkaListeners(t *testing.T, service string, svc composeService) {
	t.Helper()
	rawListeners, ok := kafkaSetting(svc.Environment, "LISTENERS")
	require.Truef(t, ok, "kafka LISTENERS: got unset, want it set")
	rawAdvertised, ok := kafkaSetting(svc.Environment, "ADVERTISED_LISTENERS")
	require.Truef(t, ok, "kafka ADVERTISED_LISTENERS: got unset, want it set")
	listeners := parseListeners(t, "LISTENERS", rawListeners)
	advertised := parseListeners(t, "ADVERTISED_LISTENERS", rawAdvertised)
	controllers, _ := kafkaSetting(svc.Environment, "CONTROLLER_LISTENER_NAMES")

	var hostFacing, internal int
	for _, name := range sortedKeys(advertised) {
		adv := advertised[name]
		require.NotContainsf(t, splitList(controllers), name, "kafka advertised listener %s: got a controller listener, want only client listeners advertised", name)
		l, ok := listeners[name]
		require.Truef(t, ok, "kafka advertised listener %s: got no listener of that name in LISTENERS (%v), want one", name, sortedKeys(listeners))
		switch adv.Host {
		case "localhost", "127.0.0.1":
			hostFacing++
			pm, ok := findPublished(svc.Ports.Items, adv.Port)
			require.Truef(t, ok, "kafka advertised listener %s=%s:%s: got ports %v, want host port %s published", name, adv.Host, adv.Port, svc.Ports.Items, adv.Port)
			require.Equalf(t, l.Port, pm.Target, "kafka host port %s: got container port %s, want %s (the %s listener)", adv.Port, pm.Target, l.Port, name)
		case service:
			internal++
			require.Equalf(t, l.Port, adv.Port, "kafka advertised listener %s=%s:%s: got port %s, want the listener's port %s", name, adv.Host, adv.Port, adv.Port, l.Port)
		default:
			require.Failf(t, "unexpected advertised host", "kafka advertised listener %s: got host %q, want localhost or %q", name, adv.Host, service)
		}
	}
	require.Equalf(t, 1, hostFacing, "kafka host-facing advertised listeners: got %d, want 1", hostFacing)
	require.Equalf(t, 1, internal, "kafka in-network advertised listeners: got %d, want 1", internal)
}

// requireJqAddresses checks that the addresses a jq service is given point at
// services of the same file, and that the Kafka brokers and the database
// credentials match what those services actually offer.
func requireJqAddresses(t *testing.T, name string, env map[string]string, services map[string]composeService) {
	t.Helper()
	requireService := func(key, host string) {
		t.Helper()
		_, ok := services[host]
		require.Truef(t, ok, "service %s env %s: got host %q, want one of the services %v", name, key, host, sortedKeys(services))
	}
	if raw, ok := env["JQ_DB_URL"]; ok {
		u, err := url.Parse(raw)
		require.NoErrorf(t, err, "service %s JQ_DB_URL: got %v, want a URL", name, err)
		require.Containsf(t, []string{"postgres", "postgresql"}, u.Scheme, "service %s JQ_DB_URL scheme: got %q, want postgres", name, u.Scheme)
		requireService("JQ_DB_URL", u.Hostname())
		pg := services[u.Hostname()].Environment.Vars
		pass, _ := u.User.Password()
		got := []string{u.User.Username(), pass, strings.TrimPrefix(u.Path, "/")}
		want := []string{pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]}
		require.Equalf(t, want, got, "service %s JQ_DB_URL user/password/db: got %v, want %v (from the %s service)", name, got, want, u.Hostname())
	}
	for _, key := range []string{"JQ_REDIS_ADDR", "JQ_SERVER_ADDR"} {
		if raw, ok := env[key]; ok {
			host, _, err := net.SplitHostPort(raw)
			require.NoErrorf(t, err, "service %s %s %q: got %v, want host:port", name, key, raw, err)
			requireService(key, host)
		}
	}
	if raw, ok := env["JQ_KAFKA_BROKERS"]; ok {
		for _, broker := range splitList(raw) {
			host, port, err := net.SplitHostPort(broker)
			require.NoErrorf(t, err, "service %s JQ_KAFKA_BROKERS %q: got %v, want host:port", name, broker, err)
			requireService("JQ_KAFKA_BROKERS", host)
			rawAdv, _ := kafkaSetting(services[host].Environment, "ADVERTISED_LISTENERS")
			var advertised []string
			for _, l := range parseListeners(t, "ADVERTISED_LISTENERS", rawAdv) {
				advertised = append(advertised, net.JoinHostPort(l.Host, l.Port))
			}
			require.Containsf(t, advertised, net.JoinHostPort(host, port), "service %s JQ_KAFKA_BROKERS: got %s, want one of the advertised listeners %v", name, broker, advertised)
		}
	}
}

// requireBindMountsExist checks that every relative bind-mount source exists,
// resolved from the folder of the compose file (the repository root).
func requireBindMountsExist(t *testing.T, rel string, services map[string]composeService) {
	t.Helper()
	for _, name := range sortedKeys(services) {
		for _, v := range services[name].Volumes.Items {
			if v.Type != "bind" || !strings.HasPrefix(v.Source, "./") {
				continue
			}
			_, err := os.Stat(repoPath(t, siblingPath(rel, v.Source)))
			require.NoErrorf(t, err, "service %s bind mount %s: got %v, want an existing path", name, v.Source, err)
			require.Truef(t, v.ReadOnly, "service %s bind mount %s: got read-write, want read-only (:ro)", name, v.Source)
		}
	}
}

// hostPorts returns the published host ports ("port/proto") of all services,
// mapped to the service that publishes them, failing on duplicates.
func hostPorts(t *testing.T, rel string, services map[string]composeService) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range sortedKeys(services) {
		for _, pm := range services[name].Ports.Items {
			if pm.Published == "" {
				continue
			}
			key := pm.Published + "/" + pm.Protocol
			owner, dup := out[key]
			require.Falsef(t, dup, "%s host port %s of %s: got it already published by %s, want each host port once", rel, key, name, owner)
			out[key] = name
		}
	}
	return out
}

func findPublished(ports []portMapping, published string) (portMapping, bool) {
	for _, pm := range ports {
		if pm.Published == published {
			return pm, true
		}
	}
	return portMapping{}, false
}

func findTarget(ports []portMapping, target string) (portMapping, bool) {
	for _, pm := range ports {
		if pm.Target == target {
			return pm, true
		}
	}
	return portMapping{}, false
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func scalarString(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return ""
	}
	return n.Value
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.ScalarNode:
		return "scalar"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	default:
		return "node of kind " + strconv.Itoa(int(k))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
