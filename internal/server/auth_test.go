package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/jqhq/jq/client"
	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/server"
	"github.com/jqhq/jq/internal/testcerts"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// wantRoles is who may call each RPC, as docs/security.md promises; admins may call them all.
// It is written here, apart from the server's rules, so that the two must agree.
var wantRoles = map[string][]apikey.Role{
	"jq.v1.JobService/SubmitJob":      {apikey.RoleSubmitter},
	"jq.v1.JobService/SubmitJobs":     {apikey.RoleSubmitter},
	"jq.v1.JobService/CancelJob":      {apikey.RoleSubmitter},
	"jq.v1.JobService/CancelJobs":     {apikey.RoleSubmitter},
	"jq.v1.JobService/RetryJob":       {apikey.RoleSubmitter},
	"jq.v1.JobService/GetJobStatus":   {apikey.RoleSubmitter, apikey.RoleReader},
	"jq.v1.JobService/ListJobs":       {apikey.RoleSubmitter, apikey.RoleReader},
	"jq.v1.JobService/GetJobLogs":     {apikey.RoleSubmitter, apikey.RoleReader},
	"jq.v1.JobService/SubmitWorkflow": {apikey.RoleSubmitter},
	"jq.v1.JobService/GetWorkflow":    {apikey.RoleSubmitter, apikey.RoleReader},

	"jq.v1.WorkerService/RegisterWorker": {apikey.RoleWorker},
	"jq.v1.WorkerService/Heartbeat":      {apikey.RoleWorker},
	"jq.v1.WorkerService/StreamJobs":     {apikey.RoleWorker},
	"jq.v1.WorkerService/ReportResult":   {apikey.RoleWorker},
	"jq.v1.WorkerService/ReportResults":  {apikey.RoleWorker},
	"jq.v1.WorkerService/Deregister":     {apikey.RoleWorker},
	"jq.v1.WorkerService/ReportProgress": {apikey.RoleWorker},

	"jq.v1.AdminService/CreateQueue":     {},
	"jq.v1.AdminService/DeleteQueue":     {},
	"jq.v1.AdminService/PauseQueues":     {},
	"jq.v1.AdminService/ResumeQueues":    {},
	"jq.v1.AdminService/UpdateQueue":     {},
	"jq.v1.AdminService/ListQueues":      {apikey.RoleReader},
	"jq.v1.AdminService/GetQueueStats":   {apikey.RoleReader},
	"jq.v1.AdminService/ListWorkers":     {apikey.RoleReader},
	"jq.v1.AdminService/DrainWorker":     {},
	"jq.v1.AdminService/ShutdownWorker":  {},
	"jq.v1.AdminService/GetSystemStatus": {apikey.RoleReader},
	"jq.v1.AdminService/CreateAPIKey":    {},
	"jq.v1.AdminService/ListAPIKeys":     {},
	"jq.v1.AdminService/RevokeAPIKey":    {},
	"jq.v1.AdminService/ListAuditEvents": {},
	"jq.v1.AdminService/CreateSchedule":  {},
	"jq.v1.AdminService/ListSchedules":   {apikey.RoleReader},
	"jq.v1.AdminService/DeleteSchedule":  {},
	"jq.v1.AdminService/PauseSchedule":   {},
	"jq.v1.AdminService/ResumeSchedule":  {},
	"jq.v1.AdminService/TriggerSchedule": {},
}

// rpc is one method of the jq services, from the proto descriptors.
type rpc struct {
	name   string // "jq.v1.JobService/SubmitJob"
	stream bool
}

func (r rpc) fullMethod() string { return "/" + r.name }

// jqRPCs lists every RPC the jq.v1 proto files declare.
func jqRPCs(t *testing.T) []rpc {
	t.Helper()
	var out []rpc
	protoregistry.GlobalFiles.RangeFilesByPackage("jq.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				out = append(out, rpc{name: string(sd.FullName()) + "/" + string(md.Name()), stream: md.IsStreamingServer()})
			}
		}
		return true
	})
	require.NotEmpty(t, out)
	return out
}

// call makes an RPC with an empty request: enough to pass or fail authorization (a call that
// passes fails validation instead, changing nothing).
func (r rpc) call(ctx context.Context, conn *grpclib.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !r.stream {
		return conn.Invoke(ctx, r.fullMethod(), &emptypb.Empty{}, &emptypb.Empty{})
	}
	s, err := conn.NewStream(ctx, &grpclib.StreamDesc{ServerStreams: true}, r.fullMethod())
	if err != nil {
		return err
	}
	if err := s.SendMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return s.RecvMsg(&emptypb.Empty{})
}

func refused(err error) bool {
	c := status.Code(err)
	return c == codes.Unauthenticated || c == codes.PermissionDenied
}

// TestAuth_Matrix calls every RPC of the proto descriptors with every role and with every kind
// of bad credential. An RPC added without a rule (here and in the server) fails it.
func TestAuth_Matrix(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	keys := map[apikey.Role]*grpclib.ClientConn{}
	for _, role := range apikey.Roles {
		keys[role] = srv.Dial(t, srv.Key(t, role))
	}
	expired := srv.Key(t, apikey.RoleAdmin)
	_, err := srv.Store().Pool().Exec(ctx, `UPDATE jq.api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = $1`,
		hashOf(expired))
	require.NoError(t, err)
	revoked := srv.Key(t, apikey.RoleAdmin)
	k, err := srv.Store().Authenticate(ctx, apikey.Hash(revoked))
	require.NoError(t, err)
	_, err = srv.Store().RevokeAPIKey(ctx, k.Name, "test")
	require.NoError(t, err)
	bad := map[string]struct {
		conn *grpclib.ClientConn
		msg  string
	}{
		"NoKey":      {srv.Dial(t, ""), "no API key"},
		"UnknownKey": {srv.Dial(t, apikey.Generate()), "unknown API key"},
		"Malformed":  {srv.Dial(t, "jqk_not-a-key"), "malformed API key"},
		"Expired":    {srv.Dial(t, expired), "expired"},
		"Revoked":    {srv.Dial(t, revoked), "was revoked"},
	}

	for _, r := range jqRPCs(t) {
		allowed, ok := wantRoles[r.name]
		require.True(t, ok, "%s has no expected roles in this test: add it, and a rule in grpc/authz.go", r.name)
		require.True(t, jqgrpc.HasRule(r.fullMethod()), "%s has no authorization rule (grpc/authz.go)", r.name)
		for _, role := range apikey.Roles {
			err := r.call(ctx, keys[role])
			if role == apikey.RoleAdmin || slices.Contains(allowed, role) {
				require.False(t, refused(err), "%s as %s: want allowed, got %v", r.name, role, err)
			} else {
				require.Equal(t, codes.PermissionDenied, status.Code(err), "%s as %s: %v", r.name, role, err)
				require.Contains(t, status.Convert(err).Message(), string(role), "the refusal names the role")
				require.Contains(t, status.Convert(err).Message(), r.name[len("jq.v1."):], "and the method")
			}
		}
		for name, b := range bad {
			err := r.call(ctx, b.conn)
			require.Equal(t, codes.Unauthenticated, status.Code(err), "%s with %s: %v", r.name, name, err)
			require.Contains(t, status.Convert(err).Message(), b.msg, "%s with %s", r.name, name)
		}
	}
	require.Len(t, wantRoles, len(jqRPCs(t)), "wantRoles names an RPC the protos no longer have")

	// Health checks stay open to load balancers and probes.
	require.NoError(t, rpc{name: "grpc.health.v1.Health/Check"}.call(ctx, bad["NoKey"].conn))
}

func hashOf(key string) []byte {
	h := apikey.Hash(key)
	return h[:]
}

// TestAuth_WorkerBoundToItsKey: another worker key cannot report for, heartbeat, stream,
// deregister or take over a worker, and the job is untouched by the attempt.
func TestAuth_WorkerBoundToItsKey(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	admin := jqv1.NewJobServiceClient(srv.Dial(t, srv.AdminKey))
	owner := srv.Dial(t, srv.Key(t, apikey.RoleWorker))
	thief := jqv1.NewWorkerServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleWorker)))

	w := newTestWorker(t, owner, 1)
	sub, err := admin.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"command": ["true"]}`)})
	require.NoError(t, err)
	a := w.next(10 * time.Second)
	require.Equal(t, sub.GetJobId(), a.GetJob().GetJobId())

	forged := &jqv1.ReportResultRequest{WorkerId: w.id.String(), JobId: a.GetJob().GetJobId(), Attempt: a.GetAttempt(),
		Success: true, Result: []byte("forged")}
	_, err = thief.ReportResult(ctx, forged)
	requireCode(t, err, codes.PermissionDenied)
	_, err = thief.ReportResults(ctx, &jqv1.ReportResultsRequest{WorkerId: w.id.String(), Results: []*jqv1.ReportResultRequest{forged}})
	requireCode(t, err, codes.PermissionDenied)
	_, err = thief.Heartbeat(ctx, &jqv1.HeartbeatRequest{WorkerId: w.id.String()})
	requireCode(t, err, codes.PermissionDenied)
	_, err = thief.Deregister(ctx, &jqv1.DeregisterRequest{WorkerId: w.id.String()})
	requireCode(t, err, codes.PermissionDenied)
	_, err = thief.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: w.id.String(), Concurrency: 1, Queues: []string{"default"}})
	requireCode(t, err, codes.PermissionDenied)
	stream, err := thief.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: w.id.String(), FreeSlots: 1})
	require.NoError(t, err)
	_, err = stream.Recv()
	requireCode(t, err, codes.PermissionDenied)

	j, err := srv.Store().GetJob(ctx, uuid.MustParse(a.GetJob().GetJobId()))
	require.NoError(t, err)
	require.Contains(t, []string{"ASSIGNED", "RUNNING"}, string(j.Status), "the forged reports changed nothing")
	require.Equal(t, 1, j.Attempt)

	resp := w.mustReport(a, true)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, resp.GetStatus())
	j, err = srv.Store().GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, "ok:"+j.ID.String(), string(j.Result), "the job completed with its own worker's result")
}

// TestAuth_FencingHiddenFromSubmittersAndReaders: the worker id and attempt of a running job
// are shown to admins, not to submitters or readers.
func TestAuth_FencingHiddenFromSubmittersAndReaders(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	w := newTestWorker(t, srv.Dial(t, srv.Key(t, apikey.RoleWorker)), 1)
	submitter := jqv1.NewJobServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleSubmitter)))
	sub, err := submitter.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
	require.NoError(t, err)
	w.next(10 * time.Second)

	for role, want := range map[apikey.Role]bool{apikey.RoleAdmin: true, apikey.RoleSubmitter: false, apikey.RoleReader: false} {
		jobs := jqv1.NewJobServiceClient(srv.Dial(t, srv.Key(t, role)))
		st, err := jobs.GetJobStatus(ctx, &jqv1.GetJobStatusRequest{JobId: sub.GetJobId()})
		require.NoError(t, err)
		require.Equal(t, want, st.GetJob().GetWorkerId() != "", "%s sees the worker id", role)
		require.Equal(t, want, st.GetJob().GetAttempt() != 0, "%s sees the attempt", role)
		list, err := jobs.ListJobs(ctx, &jqv1.ListJobsRequest{})
		require.NoError(t, err)
		require.Len(t, list.GetJobs(), 1)
		require.Equal(t, want, list.GetJobs()[0].GetWorkerId() != "", "%s sees the worker id in a list", role)
		logs, err := jobs.GetJobLogs(ctx, &jqv1.GetJobLogsRequest{JobId: sub.GetJobId()})
		require.NoError(t, err)
		for _, e := range logs.GetEvents() {
			if !want {
				require.Empty(t, e.GetWorkerId(), "%s sees no worker id in the events", role)
				require.Zero(t, e.GetAttempt(), "%s sees no attempt in the events", role)
			}
		}
	}
}

// TestAuth_QueueScopedKeys: a key limited to some queues cannot reach the others.
func TestAuth_QueueScopedKeys(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	admin := jqv1.NewAdminServiceClient(srv.Dial(t, srv.AdminKey))
	for _, q := range []string{"mine", "theirs"} {
		_, err := admin.CreateQueue(ctx, &jqv1.CreateQueueRequest{Name: q})
		require.NoError(t, err)
	}
	theirs, err := jqv1.NewJobServiceClient(srv.Dial(t, srv.AdminKey)).SubmitJob(ctx,
		&jqv1.SubmitJobRequest{QueueName: "theirs", Payload: []byte(`{}`), NotBefore: nil})
	require.NoError(t, err)

	jobs := jqv1.NewJobServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleSubmitter, "mine")))
	_, err = jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "mine", Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "theirs", Payload: []byte(`{}`)})
	requireCode(t, err, codes.PermissionDenied)
	_, err = jobs.ListJobs(ctx, &jqv1.ListJobsRequest{})
	requireCode(t, err, codes.PermissionDenied)
	mine, err := jobs.ListJobs(ctx, &jqv1.ListJobsRequest{QueueName: "mine"})
	require.NoError(t, err)
	require.Len(t, mine.GetJobs(), 1)
	for name, call := range map[string]func() error{
		"Status": func() error {
			_, err := jobs.GetJobStatus(ctx, &jqv1.GetJobStatusRequest{JobId: theirs.GetJobId()})
			return err
		},
		"Logs": func() error {
			_, err := jobs.GetJobLogs(ctx, &jqv1.GetJobLogsRequest{JobId: theirs.GetJobId()})
			return err
		},
		"Cancel": func() error {
			_, err := jobs.CancelJob(ctx, &jqv1.CancelJobRequest{JobId: theirs.GetJobId()})
			return err
		},
	} {
		requireCode(t, call(), codes.PermissionDenied)
		_ = name
	}
	j, err := srv.Store().GetJob(ctx, uuid.MustParse(theirs.GetJobId()))
	require.NoError(t, err)
	require.Equal(t, "PENDING", string(j.Status), "the refused cancel changed nothing")

	workers := jqv1.NewWorkerServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleWorker, "mine")))
	_, err = workers.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: uuid.NewString(), Concurrency: 1, Queues: []string{"mine", "theirs"}})
	requireCode(t, err, codes.PermissionDenied)
	_, err = workers.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: uuid.NewString(), Concurrency: 1, Queues: []string{"mine"}})
	require.NoError(t, err)

	reader := jqv1.NewAdminServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleReader, "mine")))
	queues, err := reader.ListQueues(ctx, &jqv1.ListQueuesRequest{})
	require.NoError(t, err)
	require.Len(t, queues.GetQueues(), 1, "a scoped reader lists its own queues only")
	require.Equal(t, "mine", queues.GetQueues()[0].GetName())
}

// TestAuth_RevokedKeyStopsWithinTheCacheTTL and keys are cached: a call costs no lookup.
func TestAuth_RevokedKeyStopsWithinTheCacheTTL(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	srv := testserver.Start(t, func(c *config.Config) { c.Auth.KeyCacheTTL = config.Duration(ttl) })
	ctx := context.Background()
	key := srv.Key(t, apikey.RoleReader)
	admin := jqv1.NewAdminServiceClient(srv.Dial(t, key))
	_, err := admin.ListQueues(ctx, &jqv1.ListQueuesRequest{})
	require.NoError(t, err)

	k, err := srv.Store().Authenticate(ctx, apikey.Hash(key))
	require.NoError(t, err)
	_, err = srv.Store().RevokeAPIKey(ctx, k.Name, "test")
	revokedAt := time.Now()
	require.NoError(t, err)
	for {
		_, err = admin.ListQueues(ctx, &jqv1.ListQueuesRequest{})
		if err != nil {
			break
		}
		require.Less(t, time.Since(revokedAt), ttl+200*time.Millisecond, "the revoked key still works past the cache TTL")
		time.Sleep(10 * time.Millisecond)
	}
	requireCode(t, err, codes.Unauthenticated)
	require.Contains(t, status.Convert(err).Message(), "revoked")
}

func TestAuth_WorkersPerKeyLimit(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, func(c *config.Config) { c.Auth.MaxWorkersPerKey = 2 })
	ctx := context.Background()
	workers := jqv1.NewWorkerServiceClient(srv.Dial(t, srv.Key(t, apikey.RoleWorker)))
	register := func(id string) error {
		_, err := workers.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: id, Concurrency: 1, Queues: []string{"default"}})
		return err
	}
	first := uuid.NewString()
	require.NoError(t, register(first))
	require.NoError(t, register(uuid.NewString()))
	err := register(uuid.NewString())
	requireCode(t, err, codes.ResourceExhausted)
	require.Contains(t, status.Convert(err).Message(), "max_workers_per_key")
	require.NoError(t, register(first), "registering again one of its own workers is not a new one")
	_, err = workers.Deregister(ctx, &jqv1.DeregisterRequest{WorkerId: first})
	require.NoError(t, err)
	require.NoError(t, register(uuid.NewString()), "an OFFLINE worker no longer counts")
}

// TestAuth_AuditNamesTheActor: job actions are in the job's events, the rest in the audit log,
// each with the key's name.
func TestAuth_AuditNamesTheActor(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	conn := srv.Dial(t, srv.AdminKey)
	admin, jobs := jqv1.NewAdminServiceClient(conn), jqv1.NewJobServiceClient(conn)
	me, err := srv.Store().Authenticate(ctx, apikey.Hash(srv.AdminKey))
	require.NoError(t, err)

	_, err = admin.CreateQueue(ctx, &jqv1.CreateQueueRequest{Name: "audited"})
	require.NoError(t, err)
	sub, err := jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "audited", Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = jobs.CancelJob(ctx, &jqv1.CancelJobRequest{JobId: sub.GetJobId()})
	require.NoError(t, err)
	_, err = jobs.RetryJob(ctx, &jqv1.RetryJobRequest{JobId: sub.GetJobId()})
	require.NoError(t, err)
	_, err = jobs.CancelJob(ctx, &jqv1.CancelJobRequest{JobId: sub.GetJobId()})
	require.NoError(t, err)
	_, err = admin.DeleteQueue(ctx, &jqv1.DeleteQueueRequest{Name: "audited"})
	require.NoError(t, err)
	wid := uuid.NewString()
	_, err = jqv1.NewWorkerServiceClient(conn).RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: wid, Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	_, err = admin.DrainWorker(ctx, &jqv1.DrainWorkerRequest{WorkerId: wid})
	require.NoError(t, err)
	_, err = admin.ShutdownWorker(ctx, &jqv1.ShutdownWorkerRequest{WorkerId: wid})
	require.NoError(t, err)
	created, err := admin.CreateAPIKey(ctx, &jqv1.CreateAPIKeyRequest{Name: "ci", Role: "submitter", Queues: []string{"default"}})
	require.NoError(t, err)
	require.NoError(t, apikey.Check(created.GetKey()))
	require.Equal(t, apikey.Display(created.GetKey()), created.GetInfo().GetPrefix())
	_, err = admin.RevokeAPIKey(ctx, &jqv1.RevokeAPIKeyRequest{Name: "ci"})
	require.NoError(t, err)

	audit, err := admin.ListAuditEvents(ctx, &jqv1.ListAuditEventsRequest{})
	require.NoError(t, err)
	var actions []string
	for _, e := range audit.GetEvents() {
		if e.GetTarget() == me.Name {
			continue // the test server made the key the test uses
		}
		require.Equal(t, me.Name, e.GetActor(), "%s", e.GetAction())
		actions = append(actions, e.GetAction()+" "+e.GetTarget())
	}
	require.Equal(t, []string{"key.revoke ci", "key.create ci", "worker.shutdown " + wid, "worker.drain " + wid,
		"queue.delete audited", "queue.create audited"}, actions, "newest first")

	page, err := admin.ListAuditEvents(ctx, &jqv1.ListAuditEventsRequest{Limit: 4})
	require.NoError(t, err)
	require.Len(t, page.GetEvents(), 4)
	rest, err := admin.ListAuditEvents(ctx, &jqv1.ListAuditEventsRequest{Limit: 4, PageToken: page.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, rest.GetEvents(), 3, "the 6 actions and the test server's key")
	require.Empty(t, rest.GetNextPageToken())

	// The deleted queue's jobs went with it; a cancel's actor is checked on a live job.
	sub, err = jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = jobs.CancelJob(ctx, &jqv1.CancelJobRequest{JobId: sub.GetJobId()})
	require.NoError(t, err)
	logs, err := jobs.GetJobLogs(ctx, &jqv1.GetJobLogsRequest{JobId: sub.GetJobId()})
	require.NoError(t, err)
	last := logs.GetEvents()[len(logs.GetEvents())-1]
	require.Equal(t, "CANCELLED", last.GetReason())
	require.Equal(t, me.Name, last.GetActor())
	require.Empty(t, logs.GetEvents()[0].GetActor(), "the system's own transitions have no actor")
}

func TestAuth_ModeNone(t *testing.T) {
	t.Parallel()
	none := func(host string, insecure bool) func(*config.Config) {
		return func(c *config.Config) {
			c.Auth.Mode = "none"
			c.GRPC.Host = host
			c.Auth.InsecureAllowNone = insecure
		}
	}
	cfg := testserver.Config(testdb.New(t))
	none("0.0.0.0", false)(cfg)
	_, err := server.New(context.Background(), cfg, testserver.Logger(), metrics.NewRegistry())
	require.ErrorContains(t, err, "insecure_allow_none", "mode none is refused on a public address")

	var logs syncBuffer
	cfg = testserver.Config(testdb.New(t))
	none("127.0.0.1", false)(cfg)
	srv, err := server.New(context.Background(), cfg, logging.New(&logs, "jq-server", logging.Options{}), metrics.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(srv.Shutdown)
	require.Contains(t, logs.String(), "auth.mode is none", "a warning at every start")
	conn, err := client.Dial(srv.GRPCAddr().String(), client.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = jqv1.NewAdminServiceClient(conn).CreateQueue(context.Background(), &jqv1.CreateQueueRequest{Name: "open"})
	require.NoError(t, err, "loopback, mode none: no key needed")

	cfg = testserver.Config(testdb.New(t))
	none("0.0.0.0", true)(cfg)
	cfg.GRPC.Port = 0
	s2, err := server.New(context.Background(), cfg, testserver.Logger(), metrics.NewRegistry())
	require.NoError(t, err, "allowed with the insecure setting")
	s2.Shutdown()
}

// TestAuth_DefaultRefusesAnonymousCalls: a server started with the defaults (auth mode token)
// refuses a call without a key.
func TestAuth_DefaultRefusesAnonymousCalls(t *testing.T) {
	t.Parallel()
	require.Equal(t, "token", config.Default(config.ServiceServer).Auth.Mode)
	srv := testserver.Start(t)
	_, err := jqv1.NewJobServiceClient(srv.Dial(t, "")).SubmitJob(context.Background(),
		&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"command": ["id"]}`)})
	requireCode(t, err, codes.Unauthenticated)
}

func TestAuth_MTLS(t *testing.T) {
	t.Parallel()
	certs := testcerts.New(t)
	srv := testserver.Start(t, func(c *config.Config) {
		c.GRPC.TLSCertFile, c.GRPC.TLSKeyFile, c.GRPC.TLSClientCAFile = certs.ServerCertFile, certs.ServerKeyFile, certs.CAFile
		c.Auth.Mode = "mtls"
		c.Auth.MTLSRoles = []string{"pool-*.jq.internal=worker", "ops@example.com=admin", "ci=submitter:deploys"}
	})
	ctx := context.Background()
	dial := func(cn string, dns ...string) *grpclib.ClientConn {
		cert, key := certs.Client(t, cn, dns...)
		creds, err := client.TLS(certs.CAFile, cert, key, "")
		require.NoError(t, err)
		conn, err := client.Dial(srv.GRPCAddr().String(), client.Options{TLS: creds})
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	worker := dial("whatever", "pool-7.jq.internal")
	id := uuid.NewString()
	w, err := jqv1.NewWorkerServiceClient(worker).RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: id, Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	require.Equal(t, "mtls:pool-7.jq.internal", w.GetWorker().GetOwner(), "the worker is bound to the certificate identity")
	_, err = jqv1.NewAdminServiceClient(worker).CreateQueue(ctx, &jqv1.CreateQueueRequest{Name: "x"})
	requireCode(t, err, codes.PermissionDenied)

	_, err = jqv1.NewAdminServiceClient(dial("ops@example.com")).CreateQueue(ctx, &jqv1.CreateQueueRequest{Name: "deploys"})
	require.NoError(t, err, "the CN maps to admin")
	ci := jqv1.NewJobServiceClient(dial("ci"))
	_, err = ci.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "deploys", Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = ci.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
	requireCode(t, err, codes.PermissionDenied)

	_, err = jqv1.NewAdminServiceClient(dial("stranger")).ListQueues(ctx, &jqv1.ListQueuesRequest{})
	requireCode(t, err, codes.PermissionDenied)
	require.Contains(t, status.Convert(err).Message(), "maps to no role")
}

// TestAuth_NoSecretInLogsOrErrors: keys, passwords and tokens never reach a log line or an
// error message, however they were sent.
func TestAuth_NoSecretInLogsOrErrors(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	cfg := testserver.Config(testdb.New(t))
	srv, err := server.New(context.Background(), cfg, logging.New(&logs, "jq-server", logging.Options{Level: slog.LevelDebug}), metrics.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(srv.Shutdown)
	key := testserver.NewKey(t, srv.Store(), apikey.RoleAdmin)
	unknown := apikey.Generate()
	garbage := "jqk_s3cr3t-garbage-that-is-no-key"

	var messages []string
	for _, k := range []string{key, unknown, garbage} {
		conn, err := client.Dial(srv.GRPCAddr().String(), client.Options{Token: k})
		require.NoError(t, err)
		_, err = jqv1.NewAdminServiceClient(conn).ListQueues(context.Background(), &jqv1.ListQueuesRequest{})
		messages = append(messages, fmt.Sprint(err))
		_, err = jqv1.NewAdminServiceClient(conn).CreateAPIKey(context.Background(), &jqv1.CreateAPIKeyRequest{Name: "x" + uuid.NewString()[:8], Role: "reader"})
		messages = append(messages, fmt.Sprint(err))
		conn.Close()
	}
	all := logs.String() + strings.Join(messages, "\n")
	for _, secret := range []string{key, unknown, garbage, key[len(apikey.Prefix)+8:], unknown[len(apikey.Prefix)+8:]} {
		require.NotContains(t, all, secret)
	}
	require.Contains(t, logs.String(), "call refused", "refusals are logged, without the key")

	// A database URL with a password, malformed or unreachable, never shows the password.
	for _, url := range []string{
		"postgres://jq:s3cr3tpassw0rd@127.0.0.1:1/jq?connect_timeout=1",
		"postgres://jq:s3cr3tpassw0rd@127.0.0.1:notaport/jq",
		"postgres://jq:s3cr3tpassw0rd@[::1/jq",
	} {
		var out bytes.Buffer
		cfg := testserver.Config(url)
		cfg.DB.ConnectTimeout = config.Duration(time.Second)
		_, err := server.New(context.Background(), cfg, logging.New(&out, "jq-server", logging.Options{Level: slog.LevelDebug}), metrics.NewRegistry())
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3tpassw0rd", "url %d", len(url))
		require.NotContains(t, out.String(), "s3cr3tpassw0rd")
		err = server.DryRun(context.Background(), cfg, logging.New(&out, "jq-server", logging.Options{}))
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3tpassw0rd")
		require.NotContains(t, out.String(), "s3cr3tpassw0rd")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
