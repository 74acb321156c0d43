package server_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// TestAdminService_ListWorkersPages: pages of ListWorkers, newest registration first, hold
// every worker once, with the status filter applied on every page.
func TestAdminService_ListWorkersPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var newestFirst []string
	for i := range 7 {
		id := uuid.NewString()
		_, err := b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: id, Hostname: "h", Concurrency: 1, Queues: []string{"default"}})
		require.NoError(t, err)
		if i == 1 || i == 4 {
			_, err = b.worker.Deregister(b.ctx, &jqv1.DeregisterRequest{WorkerId: id})
			require.NoError(t, err)
		}
		newestFirst = append([]string{id}, newestFirst...)
	}
	pages := func(status jqv1.WorkerStatus, limit int32) ([]string, []int) {
		t.Helper()
		var ids []string
		var sizes []int
		token := ""
		for {
			resp, err := b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{Status: status, Limit: limit, PageToken: token})
			require.NoError(t, err)
			sizes = append(sizes, len(resp.GetWorkers()))
			for _, w := range resp.GetWorkers() {
				ids = append(ids, w.GetWorkerId())
				if status != jqv1.WorkerStatus_WORKER_STATUS_UNSPECIFIED {
					require.Equal(t, status, w.GetStatus())
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return ids, sizes
			}
			require.Less(t, len(sizes), 10, "the pages never end")
		}
	}

	ids, sizes := pages(jqv1.WorkerStatus_WORKER_STATUS_UNSPECIFIED, 2)
	require.Equal(t, newestFirst, ids)
	require.Equal(t, []int{2, 2, 2, 1}, sizes)

	online, sizes := pages(jqv1.WorkerStatus_WORKER_STATUS_ONLINE, 2)
	require.Equal(t, []string{newestFirst[0], newestFirst[1], newestFirst[3], newestFirst[4], newestFirst[6]}, online)
	require.Equal(t, []int{2, 2, 1}, sizes)
	offline, _ := pages(jqv1.WorkerStatus_WORKER_STATUS_OFFLINE, 1)
	require.Equal(t, []string{newestFirst[2], newestFirst[5]}, offline)

	all, sizes := pages(jqv1.WorkerStatus_WORKER_STATUS_UNSPECIFIED, 0)
	require.Equal(t, newestFirst, all, "the default page (100) holds them all")
	require.Equal(t, []int{7}, sizes)

	_, err := b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{PageToken: "not-a-token!"})
	requireCode(t, err, codes.InvalidArgument)
	_, err = b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{Limit: -1})
	requireCode(t, err, codes.InvalidArgument)
}

// TestAdminService_SystemStatusCountsAreCached: GetSystemStatus reuses its counts for 5 s
// (grpc/admin_service.go countsMaxAge), so polling it costs no count per call, and then
// counts again.
func TestAdminService_SystemStatusCountsAreCached(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, &jqv1.SubmitJobRequest{})
	first, err := b.admin.GetSystemStatus(b.ctx, &jqv1.GetSystemStatusRequest{})
	counted := time.Now()
	require.NoError(t, err)
	require.Equal(t, int64(1), first.GetPendingJobs())
	require.Zero(t, first.GetOnlineWorkers())

	b.submit(t, &jqv1.SubmitJobRequest{})
	_, err = b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: uuid.NewString(), Hostname: "h", Concurrency: 1,
		Queues: []string{"default"}})
	require.NoError(t, err)
	cached, err := b.admin.GetSystemStatus(b.ctx, &jqv1.GetSystemStatusRequest{})
	require.NoError(t, err)
	if time.Since(counted) < 4*time.Second { // else the machine was too slow to tell
		require.Equal(t, int64(1), cached.GetPendingJobs(), "the counts of the first call")
		require.Zero(t, cached.GetOnlineWorkers())
	}
	require.True(t, cached.GetServerTime().AsTime().After(first.GetServerTime().AsTime()), "the rest of the status is fresh")

	var last *jqv1.GetSystemStatusResponse
	require.Eventually(t, func() bool {
		last, err = b.admin.GetSystemStatus(b.ctx, &jqv1.GetSystemStatusRequest{})
		return err == nil && last.GetPendingJobs() == 2
	}, 15*time.Second, 200*time.Millisecond, "the counts are made again after 5 s")
	require.Equal(t, int32(1), last.GetOnlineWorkers())
	require.GreaterOrEqual(t, time.Since(counted), 5*time.Second, "not before 5 s")
}
