package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	jqgrpc "github.com/jqhq/jq/grpc"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Config tunes the console.
type Config struct {
	// PathPrefix is the URL path the console is served under ("" or e.g. "/jq"), for running
	// behind an ingress that forwards a sub-path unchanged.
	PathPrefix string
	// SessionTTL is how long a sign-in lasts at most.
	SessionTTL time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// JobService is what the console asks of jq's JobService, in process.
type JobService interface {
	GetJobStatus(ctx context.Context, req *jqv1.GetJobStatusRequest) (*jqv1.GetJobStatusResponse, error)
	GetJobLogs(ctx context.Context, req *jqv1.GetJobLogsRequest) (*jqv1.GetJobLogsResponse, error)
	CancelJob(ctx context.Context, req *jqv1.CancelJobRequest) (*jqv1.CancelJobResponse, error)
	RetryJob(ctx context.Context, req *jqv1.RetryJobRequest) (*jqv1.RetryJobResponse, error)
	GetWorkflow(ctx context.Context, req *jqv1.GetWorkflowRequest) (*jqv1.GetWorkflowResponse, error)
}

// AdminService is what the console asks of jq's AdminService, in process.
type AdminService interface {
	ListQueues(ctx context.Context, req *jqv1.ListQueuesRequest) (*jqv1.ListQueuesResponse, error)
	DeleteQueue(ctx context.Context, req *jqv1.DeleteQueueRequest) (*jqv1.DeleteQueueResponse, error)
	PauseQueues(ctx context.Context, req *jqv1.PauseQueuesRequest) (*jqv1.PauseQueuesResponse, error)
	ResumeQueues(ctx context.Context, req *jqv1.ResumeQueuesRequest) (*jqv1.ResumeQueuesResponse, error)
	UpdateQueue(ctx context.Context, req *jqv1.UpdateQueueRequest) (*jqv1.UpdateQueueResponse, error)
	ListWorkers(ctx context.Context, req *jqv1.ListWorkersRequest) (*jqv1.ListWorkersResponse, error)
	DrainWorker(ctx context.Context, req *jqv1.DrainWorkerRequest) (*jqv1.DrainWorkerResponse, error)
	ShutdownWorker(ctx context.Context, req *jqv1.ShutdownWorkerRequest) (*jqv1.ShutdownWorkerResponse, error)
	ListSchedules(ctx context.Context, req *jqv1.ListSchedulesRequest) (*jqv1.ListSchedulesResponse, error)
	PauseSchedule(ctx context.Context, req *jqv1.PauseScheduleRequest) (*jqv1.PauseScheduleResponse, error)
	ResumeSchedule(ctx context.Context, req *jqv1.ResumeScheduleRequest) (*jqv1.ResumeScheduleResponse, error)
	TriggerSchedule(ctx context.Context, req *jqv1.TriggerScheduleRequest) (*jqv1.TriggerScheduleResponse, error)
	DeleteSchedule(ctx context.Context, req *jqv1.DeleteScheduleRequest) (*jqv1.DeleteScheduleResponse, error)
}

var (
	_ JobService   = (*jqgrpc.JobService)(nil)
	_ AdminService = (*jqgrpc.AdminService)(nil)
)

// Deps are the parts of jq-server the console works with.
type Deps struct {
	// DB is read for job lists, counts and charts.
	DB *pgxpool.Pool
	// Auth signs callers in: the server's own, with its key cache.
	Auth *jqgrpc.Authenticator
	// Jobs and Admin perform the actions (and the reads the API has calls for).
	Jobs  JobService
	Admin AdminService
	// Logger receives the console's own log lines (actions, refusals); nil discards.
	Logger *slog.Logger
}

// Console serves the web UI. It is an http.Handler.
type Console struct {
	cfg      Config
	prefix   string
	deps     Deps
	logger   *slog.Logger
	db       *reader
	sessions *sessions
	pages    *pages
	counts   *countCache
	charts   *cache[*chartData]
	activity *cache[map[string]*queueActivity]
	statuses *cache[[]string]
	mux      *http.ServeMux
}

// New returns the console. It touches no database until it serves a request.
func New(cfg Config, deps Deps) (*Console, error) {
	if deps.DB == nil || deps.Auth == nil || deps.Jobs == nil || deps.Admin == nil {
		return nil, errors.New("console: DB, Auth, Jobs and Admin are required")
	}
	if cfg.PathPrefix != "" && (!strings.HasPrefix(cfg.PathPrefix, "/") || strings.HasSuffix(cfg.PathPrefix, "/")) {
		return nil, fmt.Errorf("console: path prefix %q must start with / and not end with one", cfg.PathPrefix)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages(cfg.PathPrefix)
	if err != nil {
		return nil, err
	}
	db := &reader{pool: deps.DB}
	c := &Console{
		cfg: cfg, prefix: cfg.PathPrefix, deps: deps, logger: logger, db: db,
		sessions: newSessions(cfg.SessionTTL, sessionIdle, cfg.Now),
		pages:    pages,
		counts:   newCountCache(db, cfg.Now),
		charts:   newCache[*chartData](cacheTTL, cfg.Now),
		activity: newCache[map[string]*queueActivity](cacheTTL, cfg.Now),
		statuses: newCache[[]string](time.Minute, cfg.Now),
	}
	c.routes()
	return c, nil
}

// routes registers every page and action under the path prefix. Each names the gRPC method it
// corresponds to, whose authorization rule applies to it.
func (c *Console) routes() {
	p := c.prefix
	m := http.NewServeMux()
	c.mux = m
	m.HandleFunc("GET "+p+"/static/{name}", c.serveStatic)
	m.HandleFunc("GET "+p+"/login", c.loginPage)
	m.HandleFunc("POST "+p+"/login", c.login)
	m.Handle("POST "+p+"/logout", c.page("", c.logout))
	if p != "" {
		m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
		})
	}
	m.Handle("GET "+p+"/{$}", c.page("", c.home))
	m.Handle("GET "+p+"/jobs", c.page(jqv1.JobService_ListJobs_FullMethodName, c.jobs))
	m.Handle("POST "+p+"/jobs/bulk", c.page("", c.bulk))
	m.Handle("GET "+p+"/jobs/{id}", c.page(jqv1.JobService_GetJobStatus_FullMethodName, c.job))
	m.Handle("POST "+p+"/jobs/{id}/retry", c.page(jqv1.JobService_RetryJob_FullMethodName, c.retryJob))
	m.Handle("POST "+p+"/jobs/{id}/cancel", c.page(jqv1.JobService_CancelJob_FullMethodName, c.cancelJob))
	m.Handle("GET "+p+"/queues", c.page(jqv1.AdminService_ListQueues_FullMethodName, c.queues))
	m.Handle("POST "+p+"/queues/{name}/delete", c.page(jqv1.AdminService_DeleteQueue_FullMethodName, c.deleteQueue))
	m.Handle("POST "+p+"/queues/{name}/pause", c.page(jqv1.AdminService_PauseQueues_FullMethodName, c.pauseQueue))
	m.Handle("POST "+p+"/queues/{name}/resume", c.page(jqv1.AdminService_ResumeQueues_FullMethodName, c.resumeQueue))
	m.Handle("POST "+p+"/queues/{name}/limits", c.page(jqv1.AdminService_UpdateQueue_FullMethodName, c.updateQueue))
	m.Handle("POST "+p+"/queues/pause-all", c.page(jqv1.AdminService_PauseQueues_FullMethodName, c.pauseAll))
	m.Handle("POST "+p+"/queues/resume-all", c.page(jqv1.AdminService_ResumeQueues_FullMethodName, c.resumeAll))
	m.Handle("GET "+p+"/schedules", c.page(jqv1.AdminService_ListSchedules_FullMethodName, c.schedules))
	m.Handle("POST "+p+"/schedules/{name}/pause", c.page(jqv1.AdminService_PauseSchedule_FullMethodName, c.pauseSchedule))
	m.Handle("POST "+p+"/schedules/{name}/resume", c.page(jqv1.AdminService_ResumeSchedule_FullMethodName, c.resumeSchedule))
	m.Handle("POST "+p+"/schedules/{name}/trigger", c.page(jqv1.AdminService_TriggerSchedule_FullMethodName, c.triggerSchedule))
	m.Handle("POST "+p+"/schedules/{name}/delete", c.page(jqv1.AdminService_DeleteSchedule_FullMethodName, c.deleteSchedule))
	m.Handle("GET "+p+"/workflows", c.page(jqv1.JobService_GetWorkflow_FullMethodName, c.workflows))
	m.Handle("GET "+p+"/workflows/{id}", c.page(jqv1.JobService_GetWorkflow_FullMethodName, c.workflow))
	m.Handle("GET "+p+"/workers", c.page(jqv1.AdminService_ListWorkers_FullMethodName, c.workers))
	m.Handle("POST "+p+"/workers/{id}/drain", c.page(jqv1.AdminService_DrainWorker_FullMethodName, c.drainWorker))
	m.Handle("POST "+p+"/workers/{id}/shutdown", c.page(jqv1.AdminService_ShutdownWorker_FullMethodName, c.shutdownWorker))
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style anywhere: the strictest policy that the pages need.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// url is a path of the console, under the prefix.
func (c *Console) url(path string) string { return c.prefix + path }
