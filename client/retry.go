package client

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Retries. A call that is safe to repeat is retried when it fails with UNAVAILABLE (jq-server
// restarting or draining, a connection lost, PostgreSQL out of reach for a moment): up to
// RetryMaxAttempts attempts in all, each after a random pause of up to RetryInitialBackoff,
// doubled each time up to RetryMaxBackoff (full jitter), within the call's own deadline. Any
// other code is the answer, and is returned at once.
//
// Safe to repeat are the calls that change nothing (Retried lists them; gRPC retries them
// through the connection's service config), and a SubmitJob that carries an idempotency_key,
// or a SubmitJobs whose every job carries one: jq-server answers a second submit with the same
// key on the same queue with the first job (deduplicated), so a retry after a commit whose
// answer was lost inserts nothing twice. A submit without a key is never retried: UNAVAILABLE
// does not say whether it committed. Neither is any other call that changes state (cancel,
// retry, queue and key management), nor WorkerService, whose worker has its own reconnect
// loop and report batches.
//
// Dial's option grpc.WithDisableRetry() turns the service-config retries off; the submit
// retries stop with the call's context.
const (
	RetryMaxAttempts    = 5
	RetryInitialBackoff = 200 * time.Millisecond
	RetryMaxBackoff     = 2 * time.Second
)

// Retried are the calls, as /service/method, that change nothing and so are retried on
// UNAVAILABLE.
var Retried = []string{
	jqv1.JobService_GetJobStatus_FullMethodName,
	jqv1.JobService_ListJobs_FullMethodName,
	jqv1.JobService_GetJobLogs_FullMethodName,
	jqv1.JobService_GetWorkflow_FullMethodName,
	jqv1.AdminService_ListQueues_FullMethodName,
	jqv1.AdminService_GetQueueStats_FullMethodName,
	jqv1.AdminService_ListWorkers_FullMethodName,
	jqv1.AdminService_GetSystemStatus_FullMethodName,
	jqv1.AdminService_ListAPIKeys_FullMethodName,
	jqv1.AdminService_ListAuditEvents_FullMethodName,
	jqv1.AdminService_ListSchedules_FullMethodName,
	"/grpc.health.v1.Health/Check",
}

// retryOptions are Dial's retry settings: the service config for the calls that change
// nothing, and the interceptor for submits with idempotency keys.
func retryOptions() []grpclib.DialOption {
	return []grpclib.DialOption{
		grpclib.WithDefaultServiceConfig(serviceConfig()),
		grpclib.WithChainUnaryInterceptor(retryKeyedSubmits),
	}
}

// serviceConfig is the gRPC service config (JSON) that retries the Retried calls.
func serviceConfig() string {
	type name struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	names := make([]name, 0, len(Retried))
	for _, m := range Retried {
		service, method := splitMethod(m)
		names = append(names, name{Service: service, Method: method})
	}
	cfg := map[string]any{
		"methodConfig": []any{map[string]any{
			"name": names,
			"retryPolicy": map[string]any{
				"maxAttempts":          RetryMaxAttempts,
				"initialBackoff":       seconds(RetryInitialBackoff),
				"maxBackoff":           seconds(RetryMaxBackoff),
				"backoffMultiplier":    2,
				"retryableStatusCodes": []string{"UNAVAILABLE"},
			},
		}},
	}
	b, _ := json.Marshal(cfg) // maps, slices and strings: cannot fail
	return string(b)
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	for i := len(full) - 1; i > 0; i-- {
		if full[i] == '/' {
			return full[1:i], full[i+1:]
		}
	}
	return "", full
}

// seconds writes d as the service config wants a duration: decimal seconds and "s".
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }

// retryKeyedSubmits retries, on UNAVAILABLE, a SubmitJob with an idempotency key and a
// SubmitJobs whose every job has one, the way the service config retries the reads.
func retryKeyedSubmits(ctx context.Context, method string, req, reply any, cc *grpclib.ClientConn, invoker grpclib.UnaryInvoker,
	opts ...grpclib.CallOption,
) error {
	if !keyedSubmit(method, req) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	backoff := RetryInitialBackoff
	for attempt := 1; ; attempt++ {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil || attempt == RetryMaxAttempts || status.Code(err) != codes.Unavailable {
			return err
		}
		t := time.NewTimer(rand.N(backoff) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, RetryMaxBackoff)
	}
}

// keyedSubmit says whether req is a submit that jq-server deduplicates as a whole.
func keyedSubmit(method string, req any) bool {
	switch method {
	case jqv1.JobService_SubmitJob_FullMethodName:
		r, ok := req.(*jqv1.SubmitJobRequest)
		return ok && r.GetIdempotencyKey() != ""
	case jqv1.JobService_SubmitJobs_FullMethodName:
		r, ok := req.(*jqv1.SubmitJobsRequest)
		if !ok || len(r.GetJobs()) == 0 {
			return false
		}
		for _, j := range r.GetJobs() {
			if j.GetIdempotencyKey() == "" {
				return false
			}
		}
		return true
	}
	return false
}
