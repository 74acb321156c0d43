package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Service names the binary a configuration is loaded for. Defaults and validation differ per
// service: the worker exposes its metrics on another port, and jq-ctl needs no database.
type Service string

// The jq binaries.
const (
	ServiceServer Service = "jq-server"
	ServiceWorker Service = "jq-worker"
	ServiceCtl    Service = "jq-ctl"
)

// Config is the whole jq configuration. Field tags: `yaml` is the key in the file, `env` the
// variable that overrides it, `help` one line for --help and the docs, `secret` marks a value
// that belongs in the environment or a secret store, never in the file.
type Config struct {
	GRPC      GRPCConfig      `yaml:"grpc"`
	Auth      AuthConfig      `yaml:"auth"`
	DB        DBConfig        `yaml:"db"`
	Redis     RedisConfig     `yaml:"redis"`
	Kafka     KafkaConfig     `yaml:"kafka"`
	Scheduler SchedulerConfig `yaml:"scheduler"`
	Worker    WorkerConfig    `yaml:"worker"`
	Metrics   MetricsConfig   `yaml:"metrics"`
	Health    HealthConfig    `yaml:"health"`
	UI        UIConfig        `yaml:"ui"`
	Logging   LoggingConfig   `yaml:"logging"`
	// Schedules are periodic schedules kept in the file (jq-server); see ScheduleConfig.
	Schedules []ScheduleConfig `yaml:"schedules"`
}

// GRPCConfig is jq-server's gRPC listener.
type GRPCConfig struct {
	Host             string   `yaml:"host" env:"JQ_GRPC_HOST" help:"interface the gRPC server listens on"`
	Port             int      `yaml:"port" env:"JQ_GRPC_PORT" help:"gRPC port (0 picks a free one)"`
	TLSCertFile      string   `yaml:"tls_cert_file" env:"JQ_GRPC_TLS_CERT_FILE" help:"server certificate (PEM); enables TLS"`
	TLSKeyFile       string   `yaml:"tls_key_file" env:"JQ_GRPC_TLS_KEY_FILE" help:"server private key (PEM)"`
	TLSClientCAFile  string   `yaml:"tls_client_ca_file" env:"JQ_GRPC_TLS_CLIENT_CA_FILE" help:"CA that client certificates must chain to; enables mutual TLS"`
	MaxPayloadBytes  int      `yaml:"max_payload_bytes" env:"JQ_GRPC_MAX_PAYLOAD_BYTES" help:"largest job payload SubmitJob accepts"`
	MaxResultBytes   int      `yaml:"max_result_bytes" env:"JQ_GRPC_MAX_RESULT_BYTES" help:"longest result or error text a worker may report; longer text is cut on a character boundary"`
	MaxPageSize      int      `yaml:"max_page_size" env:"JQ_GRPC_MAX_PAGE_SIZE" help:"largest page ListJobs and ListWorkers return; a larger limit is INVALID_ARGUMENT naming this setting"`
	MaxStreams       int      `yaml:"max_streams_per_conn" env:"JQ_GRPC_MAX_STREAMS_PER_CONN" help:"most concurrent calls on one client connection"`
	KeepaliveTime    Duration `yaml:"keepalive_time" env:"JQ_GRPC_KEEPALIVE_TIME" help:"the server pings a connection idle this long"`
	KeepaliveTimeout Duration `yaml:"keepalive_timeout" env:"JQ_GRPC_KEEPALIVE_TIMEOUT" help:"a connection that does not answer a ping within this is closed"`
	KeepaliveMin     Duration `yaml:"keepalive_min_time" env:"JQ_GRPC_KEEPALIVE_MIN_TIME" help:"a client pinging more often than this is disconnected (GOAWAY too_many_pings)"`
	ShutdownGrace    Duration `yaml:"shutdown_grace" env:"JQ_GRPC_SHUTDOWN_GRACE" help:"how long SIGTERM waits for RPCs and streams to end before closing them"`
}

// AuthConfig is how jq-server authenticates callers and what each may do (docs/security.md).
type AuthConfig struct {
	Mode              string   `yaml:"mode" env:"JQ_AUTH_MODE" help:"token (API keys as 'authorization: Bearer KEY'), mtls (client certificates mapped to roles by auth.mtls_roles) or none (local development only)"`
	InsecureAllowNone bool     `yaml:"insecure_allow_none" env:"JQ_AUTH_INSECURE_ALLOW_NONE" help:"let mode none listen on a non-loopback address, where anyone who reaches the port can run commands on every worker"`
	KeyCacheTTL       Duration `yaml:"key_cache_ttl" env:"JQ_AUTH_KEY_CACHE_TTL" help:"how long the server caches a key's record; a revoked or expired key stops working within this"`
	MTLSRoles         []string `yaml:"mtls_roles" env:"JQ_AUTH_MTLS_ROLES" help:"mode mtls: IDENTITY=ROLE or IDENTITY=ROLE:QUEUE;QUEUE per certificate identity (a DNS, URI or email SAN, or the CN); * in IDENTITY matches any run of characters"`
	MaxWorkersPerKey  int      `yaml:"max_workers_per_key" env:"JQ_AUTH_MAX_WORKERS_PER_KEY" help:"most workers one key (or certificate identity) may have registered and not OFFLINE at once"`
}

// DBConfig is the PostgreSQL connection. URL, when set, wins over the discrete fields.
type DBConfig struct {
	URL            string   `yaml:"url" env:"JQ_DB_URL" secret:"url" help:"full PostgreSQL URL (postgres://user:pass@host:port/db?sslmode=...); wins over host/port/user/password/name"`
	Host           string   `yaml:"host" env:"JQ_DB_HOST" help:"PostgreSQL host"`
	Port           int      `yaml:"port" env:"JQ_DB_PORT" help:"PostgreSQL port"`
	User           string   `yaml:"user" env:"JQ_DB_USER" help:"PostgreSQL user"`
	Password       string   `yaml:"password" env:"JQ_DB_PASSWORD" secret:"true" help:"PostgreSQL password"`
	Name           string   `yaml:"name" env:"JQ_DB_NAME" help:"PostgreSQL database"`
	SSLMode        string   `yaml:"sslmode" env:"JQ_DB_SSLMODE" help:"disable, allow, prefer, require, verify-ca or verify-full"`
	MaxConns       int      `yaml:"max_conns" env:"JQ_DB_MAX_CONNS" help:"connection pool size"`
	ConnectTimeout Duration `yaml:"connect_timeout" env:"JQ_DB_CONNECT_TIMEOUT" help:"timeout of one connection attempt"`
	// StatementTimeout is enforced by the client, not by PostgreSQL: a path that went silent
	// (no FIN, no RST) never delivers a server-side timeout's error.
	StatementTimeout Duration `yaml:"statement_timeout" env:"JQ_DB_STATEMENT_TIMEOUT" help:"client-side deadline of each database call that has none of its own (scheduler, maintenance, relay, RPCs without a deadline); a call past it fails and its connection is closed, so a silent network cannot hang the server"`
	MigrateOnStart   bool     `yaml:"migrate_on_start" env:"JQ_DB_MIGRATE_ON_START" help:"apply pending migrations when jq-server starts"`
}

// RedisConfig is the optional Redis used for assignment locks and the leader lease.
type RedisConfig struct {
	Addr      string   `yaml:"addr" env:"JQ_REDIS_ADDR" help:"host:port of Redis; empty turns Redis off (PostgreSQL advisory locks are used instead)"`
	Password  string   `yaml:"password" env:"JQ_REDIS_PASSWORD" secret:"true" help:"Redis password"`
	DB        int      `yaml:"db" env:"JQ_REDIS_DB" help:"Redis database number"`
	KeyPrefix string   `yaml:"key_prefix" env:"JQ_REDIS_KEY_PREFIX" help:"prefix of every key jq writes"`
	TLS       bool     `yaml:"tls" env:"JQ_REDIS_TLS" help:"connect with TLS"`
	Timeout   Duration `yaml:"timeout" env:"JQ_REDIS_TIMEOUT" help:"dial, read and write timeout; Redis is a fast path, so keep it short"`
}

// KafkaConfig is the optional Kafka that lifecycle events are relayed to.
type KafkaConfig struct {
	Brokers       []string `yaml:"brokers" env:"JQ_KAFKA_BROKERS" help:"comma-separated seed brokers; empty turns events off"`
	ClientID      string   `yaml:"client_id" env:"JQ_KAFKA_CLIENT_ID" help:"Kafka client id"`
	TLS           bool     `yaml:"tls" env:"JQ_KAFKA_TLS" help:"connect with TLS"`
	SASLMechanism string   `yaml:"sasl_mechanism" env:"JQ_KAFKA_SASL_MECHANISM" help:"empty, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"`
	SASLUsername  string   `yaml:"sasl_username" env:"JQ_KAFKA_SASL_USERNAME" secret:"true" help:"SASL user"`
	SASLPassword  string   `yaml:"sasl_password" env:"JQ_KAFKA_SASL_PASSWORD" secret:"true" help:"SASL password"`
	RelayBatch    int      `yaml:"relay_batch" env:"JQ_KAFKA_RELAY_BATCH" help:"most events the relay publishes (and waits for) at once"`
}

// SchedulerConfig tunes jq-server's scheduler and maintenance loops.
type SchedulerConfig struct {
	Interval             Duration `yaml:"interval" env:"JQ_SCHEDULER_INTERVAL" help:"poll interval; the fallback when no NOTIFY arrives"`
	Notify               bool     `yaml:"notify" env:"JQ_SCHEDULER_NOTIFY" help:"wake on LISTEN jq_job_ready (turn off only to measure the poll fallback)"`
	BatchSize            int      `yaml:"batch_size" env:"JQ_SCHEDULER_BATCH_SIZE" help:"most jobs one claim takes (one claim serves every worker of a queue set)"`
	AssignmentTimeout    Duration `yaml:"assignment_timeout" env:"JQ_SCHEDULER_ASSIGNMENT_TIMEOUT" help:"an ASSIGNED job not started within this goes back to PENDING"`
	StartDelay           Duration `yaml:"start_delay" env:"JQ_SCHEDULER_START_DELAY" help:"delivered jobs still running this long after their delivery are marked RUNNING, in batches (within 1.5 × this); a job that finishes first skips that write"`
	HeartbeatTimeout     Duration `yaml:"heartbeat_timeout" env:"JQ_SCHEDULER_HEARTBEAT_TIMEOUT" help:"a worker silent this long is lost and its jobs are retried"`
	StreamGrace          Duration `yaml:"stream_grace" env:"JQ_SCHEDULER_STREAM_GRACE" help:"a worker whose stream broke and did not come back within this loses its jobs"`
	RetryBaseDelay       Duration `yaml:"retry_base_delay" env:"JQ_SCHEDULER_RETRY_BASE_DELAY" help:"backoff of the first retry of a failed job; doubles with each retry (a lost worker's jobs are retried at once)"`
	RetryMaxDelay        Duration `yaml:"retry_max_delay" env:"JQ_SCHEDULER_RETRY_MAX_DELAY" help:"longest backoff between retries"`
	ReapInterval         Duration `yaml:"reap_interval" env:"JQ_SCHEDULER_REAP_INTERVAL" help:"how often lost workers are looked for"`
	ExpireInterval       Duration `yaml:"expire_interval" env:"JQ_SCHEDULER_EXPIRE_INTERVAL" help:"how often TTL expiry and assignment-timeout recovery run"`
	PruneInterval        Duration `yaml:"prune_interval" env:"JQ_SCHEDULER_PRUNE_INTERVAL" help:"how often finished jobs past the retention are deleted"`
	Retention            Duration `yaml:"retention" env:"JQ_SCHEDULER_RETENTION" help:"how long DONE and DEAD_LETTERED jobs are kept"`
	WorkerRetention      Duration `yaml:"worker_retention" env:"JQ_SCHEDULER_WORKER_RETENTION" help:"how long an OFFLINE worker is kept in the worker list"`
	ReconcileGrace       Duration `yaml:"reconcile_grace" env:"JQ_SCHEDULER_RECONCILE_GRACE" help:"a job given to a live worker longer ago than this, which its heartbeat does not list, is retried (WORKER_LOST)"`
	DepthRefreshInterval Duration `yaml:"depth_refresh_interval" env:"JQ_SCHEDULER_DEPTH_REFRESH_INTERVAL" help:"how often the queue depth gauges are refreshed"`
	LeaderLease          Duration `yaml:"leader_lease" env:"JQ_SCHEDULER_LEADER_LEASE" help:"TTL of the maintenance leader lease in Redis"`
	AsyncClaimCommit     bool     `yaml:"async_claim_commit" env:"JQ_SCHEDULER_ASYNC_CLAIM_COMMIT" help:"claims, starts and releases commit without waiting for the WAL flush (synchronous_commit off): a PostgreSQL crash may forget the last claims, whose jobs then run again (fenced); completions stay synchronous"`
	ScheduleGrace        Duration `yaml:"schedule_grace" env:"JQ_SCHEDULER_SCHEDULE_GRACE" help:"how late a periodic schedule's time may still fire; older times were missed while no server ran, and the schedule's catch_up decides (keep it above a leader change: scheduler.leader_lease)"`
}

// WorkerConfig is jq-worker's behaviour and its connection to jq-server.
type WorkerConfig struct {
	ServerAddr        string   `yaml:"server_addr" env:"JQ_SERVER_ADDR" help:"host:port of jq-server"`
	ID                string   `yaml:"id" env:"JQ_WORKER_ID" help:"worker id (a UUID, or a name such as the pod name, under which a restarted worker reclaims its jobs); empty gives each process its own"`
	Concurrency       int      `yaml:"concurrency" env:"JQ_WORKER_CONCURRENCY" help:"jobs run at once"`
	Queues            []string `yaml:"queues" env:"JQ_WORKER_QUEUES" help:"comma-separated queues to take jobs from"`
	HeartbeatInterval Duration `yaml:"heartbeat_interval" env:"JQ_WORKER_HEARTBEAT_INTERVAL" help:"how often the worker heartbeats"`
	ShutdownGrace     Duration `yaml:"shutdown_grace" env:"JQ_WORKER_SHUTDOWN_GRACE" help:"on SIGTERM or drain, how long running jobs may take before they are killed"`
	DefaultTimeout    Duration `yaml:"default_timeout" env:"JQ_WORKER_DEFAULT_TIMEOUT" help:"timeout of a job that sets none and whose queue has no TTL"`
	CancelGrace       Duration `yaml:"cancel_grace" env:"JQ_WORKER_CANCEL_GRACE" help:"how long a cancelled subprocess job has between SIGTERM and SIGKILL (a payload's grace_seconds overrides it)"`
	MaxOutputBytes    int      `yaml:"max_output_bytes" env:"JQ_WORKER_MAX_OUTPUT_BYTES" help:"cap on a job's captured stdout and stderr, each"`
	TLSCAFile         string   `yaml:"tls_ca_file" env:"JQ_WORKER_TLS_CA_FILE" help:"CA that jq-server's certificate must chain to; enables TLS"`
	TLSCertFile       string   `yaml:"tls_cert_file" env:"JQ_WORKER_TLS_CERT_FILE" help:"client certificate for mutual TLS"`
	TLSKeyFile        string   `yaml:"tls_key_file" env:"JQ_WORKER_TLS_KEY_FILE" help:"client private key for mutual TLS"`
	TLSServerName     string   `yaml:"tls_server_name" env:"JQ_WORKER_TLS_SERVER_NAME" help:"expected server name, when it differs from the address"`
	Token             string   `yaml:"token" env:"JQ_TOKEN" secret:"true" help:"API key (role worker) presented to jq-server"`
	TokenFile         string   `yaml:"token_file" env:"JQ_TOKEN_FILE" help:"file holding the API key (read at start); wins over worker.token"`
	AllowedCommands   []string `yaml:"allowed_commands" env:"JQ_WORKER_ALLOWED_COMMANDS" help:"globs a job's program must match (e.g. /usr/bin/*,python3); empty allows any"`
	AllowedEnv        []string `yaml:"allowed_env" env:"JQ_WORKER_ALLOWED_ENV" help:"payload env names allowed although they change how programs load or run (LD_*, PATH, ...); refused by default"`
}

// MetricsConfig is the Prometheus /metrics listener.
type MetricsConfig struct {
	Enabled bool   `yaml:"enabled" env:"JQ_METRICS_ENABLED" help:"serve /metrics"`
	Host    string `yaml:"host" env:"JQ_METRICS_HOST" help:"interface /metrics listens on"`
	Port    int    `yaml:"port" env:"JQ_METRICS_PORT" help:"port of /metrics (0 picks a free one)"`
}

// HealthConfig is the /healthz and /readyz listener.
type HealthConfig struct {
	Host string `yaml:"host" env:"JQ_HEALTH_HOST" help:"interface /healthz and /readyz listen on"`
	Port int    `yaml:"port" env:"JQ_HEALTH_PORT" help:"port of /healthz and /readyz (0 picks a free one)"`
}

// UIConfig is the console, jq-server's web UI for operators (docs/console.md).
type UIConfig struct {
	Enabled    bool     `yaml:"enabled" env:"JQ_UI_ENABLED" help:"serve the console, the web UI for operators (docs/console.md)"`
	Host       string   `yaml:"host" env:"JQ_UI_HOST" help:"interface the console listens on; beyond loopback, terminate TLS in front of it (sign-in sends an API key)"`
	Port       int      `yaml:"port" env:"JQ_UI_PORT" help:"port of the console (0 picks a free one)"`
	PathPrefix string   `yaml:"path_prefix" env:"JQ_UI_PATH_PREFIX" help:"URL path the console is served under behind an ingress (e.g. /jq); empty serves it at /"`
	SessionTTL Duration `yaml:"session_ttl" env:"JQ_UI_SESSION_TTL" help:"how long a console sign-in lasts (it also ends after an hour without a request, or when its key is revoked)"`
}

// LoggingConfig is the JSON logger.
type LoggingConfig struct {
	Level     string `yaml:"level" env:"JQ_LOG_LEVEL" help:"debug, info, warn or error"`
	AddSource bool   `yaml:"add_source" env:"JQ_LOG_ADD_SOURCE" help:"add the source file and line to each log line"`
}

// Default returns the configuration a service runs with when nothing is set.
func Default(service Service) *Config {
	c := &Config{
		GRPC: GRPCConfig{
			Host:             "0.0.0.0",
			Port:             50051,
			MaxPayloadBytes:  1 << 20,
			MaxResultBytes:   1 << 20,
			MaxPageSize:      1000,
			MaxStreams:       1000,
			KeepaliveTime:    Duration(30 * time.Second),
			KeepaliveTimeout: Duration(10 * time.Second),
			KeepaliveMin:     Duration(5 * time.Second),
			ShutdownGrace:    Duration(30 * time.Second),
		},
		Auth: AuthConfig{
			Mode:             "token",
			KeyCacheTTL:      Duration(10 * time.Second),
			MaxWorkersPerKey: 1000,
		},
		DB: DBConfig{
			Host:             "localhost",
			Port:             5432,
			User:             "jq",
			Name:             "jq",
			SSLMode:          "prefer",
			MaxConns:         10,
			ConnectTimeout:   Duration(5 * time.Second),
			StatementTimeout: Duration(30 * time.Second),
			MigrateOnStart:   true,
		},
		Redis: RedisConfig{
			Timeout: Duration(200 * time.Millisecond),
		},
		Kafka: KafkaConfig{
			ClientID:   "jq",
			RelayBatch: 5000,
		},
		Scheduler: SchedulerConfig{
			Interval:             Duration(500 * time.Millisecond),
			Notify:               true,
			BatchSize:            100,
			AssignmentTimeout:    Duration(30 * time.Second),
			StartDelay:           Duration(time.Second),
			HeartbeatTimeout:     Duration(30 * time.Second),
			StreamGrace:          Duration(2 * time.Second),
			RetryBaseDelay:       Duration(time.Second),
			RetryMaxDelay:        Duration(5 * time.Minute),
			ReapInterval:         Duration(time.Second),
			ExpireInterval:       Duration(10 * time.Second),
			PruneInterval:        Duration(time.Minute),
			Retention:            Duration(7 * 24 * time.Hour),
			WorkerRetention:      Duration(24 * time.Hour),
			ReconcileGrace:       Duration(30 * time.Second),
			DepthRefreshInterval: Duration(10 * time.Second),
			LeaderLease:          Duration(15 * time.Second),
			AsyncClaimCommit:     true,
			ScheduleGrace:        Duration(time.Minute),
		},
		Worker: WorkerConfig{
			ServerAddr:        "localhost:50051",
			Concurrency:       4,
			Queues:            []string{"default"},
			HeartbeatInterval: Duration(10 * time.Second),
			ShutdownGrace:     Duration(60 * time.Second),
			DefaultTimeout:    Duration(30 * time.Minute),
			MaxOutputBytes:    1 << 20,
			CancelGrace:       Duration(10 * time.Second),
		},
		Metrics: MetricsConfig{
			Enabled: true,
			Host:    "0.0.0.0",
			Port:    9090,
		},
		Health: HealthConfig{
			Host: "0.0.0.0",
			Port: 8080,
		},
		UI: UIConfig{
			Host:       "127.0.0.1",
			Port:       8088,
			SessionTTL: Duration(12 * time.Hour),
		},
		Logging: LoggingConfig{
			Level: "info",
		},
	}
	if service == ServiceWorker {
		// A worker often runs beside a server on one host during development.
		c.Metrics.Port = 9091
		c.Health.Port = 8081
	}
	return c
}

// ConnString is the PostgreSQL connection string: URL when set, else one built from the
// discrete fields.
func (c DBConfig) ConnString() string {
	if c.URL != "" {
		return c.URL
	}
	u := url.URL{
		Scheme: "postgres",
		Host:   c.Host + ":" + strconv.Itoa(c.Port),
		Path:   "/" + c.Name,
	}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else if c.User != "" {
		u.User = url.User(c.User)
	}
	q := url.Values{}
	if c.SSLMode != "" {
		q.Set("sslmode", c.SSLMode)
	}
	if c.ConnectTimeout > 0 {
		q.Set("connect_timeout", strconv.Itoa(max(1, int(c.ConnectTimeout.Std().Seconds()))))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Redacted returns a connection string with any password replaced, for logs and errors. A
// string that does not parse as a URL is redacted all the same: a typo in the port must not
// print the password.
func Redacted(connString string) string {
	u, err := url.Parse(connString)
	if err != nil {
		return urlPassword.ReplaceAllString(connString, "${1}xxxxx@")
	}
	if u.User == nil {
		return connString
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// urlPassword finds "scheme://user:password@" in a string that is not a valid URL.
var urlPassword = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)

// Address joins a host and a port.
func Address(host string, port int) string {
	return fmt.Sprintf("%s:%d", host, port)
}
