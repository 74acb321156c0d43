package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jqhq/jq/queue/queuename"
)

// Validate checks the sections a service uses and returns an *Error listing every problem,
// each prefixed with the field's path, or nil.
func (c *Config) Validate(service Service) error {
	v := &validator{}
	switch service {
	case ServiceServer:
		c.validateGRPC(v)
		c.validateAuth(v)
		c.validateDB(v)
		c.validateRedis(v)
		c.validateKafka(v)
		c.validateScheduler(v)
		c.validateSchedules(v)
		c.validateListeners(v)
		c.validateUI(v)
	case ServiceWorker:
		c.validateWorker(v)
		c.validateListeners(v)
	case ServiceCtl:
	default:
		v.add("service", "unknown service %q", service)
	}
	c.validateLogging(v)
	if len(v.problems) > 0 {
		return &Error{Problems: v.problems}
	}
	return nil
}

type validator struct{ problems []string }

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, path+": "+fmt.Sprintf(format, args...))
}

func (v *validator) port(path string, p int) {
	if p < 0 || p > 65535 {
		v.add(path, "port %d is outside 0-65535", p)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, "must be greater than zero, got %s", d)
	}
}

func (v *validator) pair(pathA, a, pathB, b string) {
	if (a == "") != (b == "") {
		v.add(pathA, "%s and %s must be set together", pathA, pathB)
	}
}

func (c *Config) validateGRPC(v *validator) {
	v.port("grpc.port", c.GRPC.Port)
	v.pair("grpc.tls_cert_file", c.GRPC.TLSCertFile, "grpc.tls_key_file", c.GRPC.TLSKeyFile)
	if c.GRPC.TLSClientCAFile != "" && c.GRPC.TLSCertFile == "" {
		v.add("grpc.tls_client_ca_file", "mutual TLS needs grpc.tls_cert_file and grpc.tls_key_file too")
	}
	if c.GRPC.MaxPayloadBytes < 1 || c.GRPC.MaxPayloadBytes > 64<<20 {
		v.add("grpc.max_payload_bytes", "must be between 1 and 67108864 (64 MiB), got %d", c.GRPC.MaxPayloadBytes)
	}
	if c.GRPC.MaxResultBytes < 1024 || c.GRPC.MaxResultBytes > 16<<20 {
		v.add("grpc.max_result_bytes", "must be between 1024 and 16777216 (16 MiB), got %d", c.GRPC.MaxResultBytes)
	}
	if c.GRPC.MaxPageSize < 1 || c.GRPC.MaxPageSize > 100000 {
		v.add("grpc.max_page_size", "must be between 1 and 100000, got %d", c.GRPC.MaxPageSize)
	}
	if c.GRPC.MaxStreams < 1 {
		v.add("grpc.max_streams_per_conn", "must be at least 1, got %d", c.GRPC.MaxStreams)
	}
	v.positive("grpc.keepalive_time", c.GRPC.KeepaliveTime)
	v.positive("grpc.keepalive_timeout", c.GRPC.KeepaliveTimeout)
	v.positive("grpc.keepalive_min_time", c.GRPC.KeepaliveMin)
	v.positive("grpc.shutdown_grace", c.GRPC.ShutdownGrace)
}

// AuthModes are the values of auth.mode.
var AuthModes = []string{"token", "mtls", "none"}

func (c *Config) validateAuth(v *validator) {
	a := c.Auth
	if !slices.Contains(AuthModes, a.Mode) {
		v.add("auth.mode", "%q is not one of %v", a.Mode, AuthModes)
	}
	if a.Mode == "mtls" {
		if c.GRPC.TLSClientCAFile == "" {
			v.add("auth.mode", "mtls needs grpc.tls_client_ca_file (and grpc.tls_cert_file, grpc.tls_key_file)")
		}
		if len(a.MTLSRoles) == 0 {
			v.add("auth.mtls_roles", "mode mtls needs at least one IDENTITY=ROLE mapping; without one every certificate is refused")
		}
	}
	for _, m := range a.MTLSRoles {
		if _, err := ParseMTLSRole(m); err != nil {
			v.add("auth.mtls_roles", "%v", err)
		}
	}
	v.positive("auth.key_cache_ttl", a.KeyCacheTTL)
	if a.KeyCacheTTL.Std() > 5*time.Minute {
		v.add("auth.key_cache_ttl", "at most 5m (a revoked key works until its cache entry expires), got %s", a.KeyCacheTTL)
	}
	if a.MaxWorkersPerKey < 1 {
		v.add("auth.max_workers_per_key", "must be at least 1, got %d", a.MaxWorkersPerKey)
	}
}

func (c *Config) validateDB(v *validator) {
	if c.DB.URL != "" {
		u, err := url.Parse(c.DB.URL)
		switch {
		case err != nil:
			v.add("db.url", "not a URL: %v", err)
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			v.add("db.url", "scheme %q: want postgres:// or postgresql://", u.Scheme)
		}
	} else {
		if c.DB.Host == "" {
			v.add("db.host", "required when db.url is not set")
		}
		v.port("db.port", c.DB.Port)
		if c.DB.User == "" {
			v.add("db.user", "required when db.url is not set")
		}
		if c.DB.Name == "" {
			v.add("db.name", "required when db.url is not set")
		}
		modes := []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
		if c.DB.SSLMode != "" && !slices.Contains(modes, c.DB.SSLMode) {
			v.add("db.sslmode", "%q is not one of %v", c.DB.SSLMode, modes)
		}
	}
	if c.DB.MaxConns < 2 || c.DB.MaxConns > 1000 {
		v.add("db.max_conns", "must be between 2 and 1000, got %d", c.DB.MaxConns)
	}
	v.positive("db.connect_timeout", c.DB.ConnectTimeout)
	v.positive("db.statement_timeout", c.DB.StatementTimeout)
}

func (c *Config) validateRedis(v *validator) {
	if c.Redis.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
			v.add("redis.addr", "want host:port, got %q", c.Redis.Addr)
		}
	}
	if c.Redis.DB < 0 || c.Redis.DB > 15 {
		v.add("redis.db", "must be between 0 and 15, got %d", c.Redis.DB)
	}
	v.positive("redis.timeout", c.Redis.Timeout)
}

func (c *Config) validateKafka(v *validator) {
	if c.Kafka.RelayBatch < 1 || c.Kafka.RelayBatch > 10000 {
		// The producer buffers at most 10,000 records (internal/kafka).
		v.add("kafka.relay_batch", "must be between 1 and 10000, got %d", c.Kafka.RelayBatch)
	}
	for i, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			v.add("kafka.brokers", "broker %d: want host:port, got %q", i+1, b)
		}
	}
	switch c.Kafka.SASLMechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.Kafka.SASLUsername == "" || c.Kafka.SASLPassword == "" {
			v.add("kafka.sasl_mechanism", "%s needs kafka.sasl_username and kafka.sasl_password (JQ_KAFKA_SASL_USERNAME, JQ_KAFKA_SASL_PASSWORD)", c.Kafka.SASLMechanism)
		}
	default:
		v.add("kafka.sasl_mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.Kafka.SASLMechanism)
	}
}

func (c *Config) validateScheduler(v *validator) {
	s := c.Scheduler
	v.positive("scheduler.interval", s.Interval)
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		v.add("scheduler.batch_size", "must be between 1 and 10000, got %d", s.BatchSize)
	}
	v.positive("scheduler.assignment_timeout", s.AssignmentTimeout)
	v.positive("scheduler.start_delay", s.StartDelay)
	if s.StartDelay > s.AssignmentTimeout/10 {
		v.add("scheduler.start_delay", "%s is over a tenth of scheduler.assignment_timeout %s: delivered jobs would be requeued before they are marked RUNNING", s.StartDelay, s.AssignmentTimeout)
	}
	v.positive("scheduler.heartbeat_timeout", s.HeartbeatTimeout)
	v.positive("scheduler.stream_grace", s.StreamGrace)
	v.positive("scheduler.retry_base_delay", s.RetryBaseDelay)
	v.positive("scheduler.retry_max_delay", s.RetryMaxDelay)
	if s.RetryBaseDelay > s.RetryMaxDelay {
		v.add("scheduler.retry_base_delay", "%s is more than scheduler.retry_max_delay %s", s.RetryBaseDelay, s.RetryMaxDelay)
	}
	v.positive("scheduler.reap_interval", s.ReapInterval)
	v.positive("scheduler.expire_interval", s.ExpireInterval)
	v.positive("scheduler.prune_interval", s.PruneInterval)
	if s.Retention.Std() < time.Minute {
		v.add("scheduler.retention", "must be at least 1m, got %s", s.Retention)
	}
	v.positive("scheduler.depth_refresh_interval", s.DepthRefreshInterval)
	v.positive("scheduler.worker_retention", s.WorkerRetention)
	if s.ReconcileGrace.Std() < time.Second {
		v.add("scheduler.reconcile_grace", "must be at least 1s (a delivery needs time to reach the worker), got %s", s.ReconcileGrace)
	}
	if s.LeaderLease.Std() < time.Second {
		v.add("scheduler.leader_lease", "must be at least 1s, got %s", s.LeaderLease)
	}
	if s.ScheduleGrace.Std() < time.Second || s.ScheduleGrace.Std() > 24*time.Hour {
		v.add("scheduler.schedule_grace", "must be between 1s and 24h, got %s", s.ScheduleGrace)
	}
}

func (c *Config) validateWorker(v *validator) {
	w := c.Worker
	if host, port, err := net.SplitHostPort(w.ServerAddr); err != nil || host == "" {
		v.add("worker.server_addr", "want host:port, got %q", w.ServerAddr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add("worker.server_addr", "port %q is not a number in 1-65535", port)
	}
	if w.Concurrency < 1 || w.Concurrency > 4096 {
		v.add("worker.concurrency", "must be between 1 and 4096, got %d", w.Concurrency)
	}
	if len(w.Queues) == 0 {
		v.add("worker.queues", "at least one queue is required")
	}
	for _, q := range w.Queues {
		if !queuename.Valid(q) {
			v.add("worker.queues", "%q is not a valid queue name (%s)", q, queuename.Rule)
		}
	}
	v.positive("worker.heartbeat_interval", w.HeartbeatInterval)
	v.positive("worker.shutdown_grace", w.ShutdownGrace)
	v.positive("worker.default_timeout", w.DefaultTimeout)
	v.positive("worker.cancel_grace", w.CancelGrace)
	if w.MaxOutputBytes < 1024 {
		v.add("worker.max_output_bytes", "must be at least 1024, got %d", w.MaxOutputBytes)
	}
	v.pair("worker.tls_cert_file", w.TLSCertFile, "worker.tls_key_file", w.TLSKeyFile)
	for _, g := range w.AllowedCommands {
		if _, err := path.Match(g, ""); err != nil {
			v.add("worker.allowed_commands", "%q is not a valid glob: %v", g, err)
		}
	}
}

func (c *Config) validateListeners(v *validator) {
	v.port("metrics.port", c.Metrics.Port)
	v.port("health.port", c.Health.Port)
}

// pathPrefix is a URL path of plain segments without a trailing slash ("/jq", "/ops/jq");
// path.Clean then refuses the segments "." and "..".
var pathPrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)

func (c *Config) validateUI(v *validator) {
	v.port("ui.port", c.UI.Port)
	if p := c.UI.PathPrefix; !pathPrefix.MatchString(p) || p != "" && path.Clean(p) != p {
		v.add("ui.path_prefix", "want empty or a path such as /jq or /ops/jq (letters, digits, . _ ~ -; no trailing slash), got %q", c.UI.PathPrefix)
	}
	if c.UI.Enabled {
		v.positive("ui.session_ttl", c.UI.SessionTTL)
	}
}

func (c *Config) validateLogging(v *validator) {
	if _, err := ParseLevel(c.Logging.Level); err != nil {
		v.add("logging.level", "%v", err)
	}
}
