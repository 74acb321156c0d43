package grpc

import (
	"slices"

	"github.com/jqhq/jq/internal/apikey"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// rule says which roles may call a method. Admins may call everything, so rules list the
// other roles. Per-queue limits are checked by the handlers, which know the queue.
type rule struct {
	roles []apikey.Role
	// public methods need no credential at all (health checks, for load balancers and probes).
	public bool
}

var (
	submitters  = rule{roles: []apikey.Role{apikey.RoleSubmitter}}
	readers     = rule{roles: []apikey.Role{apikey.RoleSubmitter, apikey.RoleReader}}
	opsReaders  = rule{roles: []apikey.Role{apikey.RoleReader}}
	workersOnly = rule{roles: []apikey.Role{apikey.RoleWorker}}
	adminsOnly  = rule{}
	anyKey      = rule{roles: apikey.Roles}
	public      = rule{public: true}
)

// methodRules is the authorization table: every method the server serves has a rule, and a
// method without one is refused to everyone (deny by default). docs/security.md shows it.
var methodRules = map[string]rule{
	jqv1.JobService_SubmitJob_FullMethodName:      submitters,
	jqv1.JobService_SubmitJobs_FullMethodName:     submitters,
	jqv1.JobService_CancelJob_FullMethodName:      submitters,
	jqv1.JobService_CancelJobs_FullMethodName:     submitters,
	jqv1.JobService_RetryJob_FullMethodName:       submitters,
	jqv1.JobService_GetJobStatus_FullMethodName:   readers,
	jqv1.JobService_ListJobs_FullMethodName:       readers,
	jqv1.JobService_GetJobLogs_FullMethodName:     readers,
	jqv1.JobService_SubmitWorkflow_FullMethodName: submitters,
	jqv1.JobService_GetWorkflow_FullMethodName:    readers,

	jqv1.WorkerService_RegisterWorker_FullMethodName: workersOnly,
	jqv1.WorkerService_Heartbeat_FullMethodName:      workersOnly,
	jqv1.WorkerService_StreamJobs_FullMethodName:     workersOnly,
	jqv1.WorkerService_ReportResult_FullMethodName:   workersOnly,
	jqv1.WorkerService_ReportResults_FullMethodName:  workersOnly,
	jqv1.WorkerService_Deregister_FullMethodName:     workersOnly,
	jqv1.WorkerService_ReportProgress_FullMethodName: workersOnly,

	jqv1.AdminService_CreateQueue_FullMethodName:     adminsOnly,
	jqv1.AdminService_DeleteQueue_FullMethodName:     adminsOnly,
	jqv1.AdminService_ListQueues_FullMethodName:      opsReaders,
	jqv1.AdminService_PauseQueues_FullMethodName:     adminsOnly,
	jqv1.AdminService_ResumeQueues_FullMethodName:    adminsOnly,
	jqv1.AdminService_UpdateQueue_FullMethodName:     adminsOnly,
	jqv1.AdminService_GetQueueStats_FullMethodName:   opsReaders,
	jqv1.AdminService_ListWorkers_FullMethodName:     opsReaders,
	jqv1.AdminService_DrainWorker_FullMethodName:     adminsOnly,
	jqv1.AdminService_ShutdownWorker_FullMethodName:  adminsOnly,
	jqv1.AdminService_GetSystemStatus_FullMethodName: opsReaders,
	jqv1.AdminService_CreateAPIKey_FullMethodName:    adminsOnly,
	jqv1.AdminService_ListAPIKeys_FullMethodName:     adminsOnly,
	jqv1.AdminService_RevokeAPIKey_FullMethodName:    adminsOnly,
	jqv1.AdminService_ListAuditEvents_FullMethodName: adminsOnly,
	jqv1.AdminService_CreateSchedule_FullMethodName:  adminsOnly,
	jqv1.AdminService_ListSchedules_FullMethodName:   opsReaders,
	jqv1.AdminService_DeleteSchedule_FullMethodName:  adminsOnly,
	jqv1.AdminService_PauseSchedule_FullMethodName:   adminsOnly,
	jqv1.AdminService_ResumeSchedule_FullMethodName:  adminsOnly,
	jqv1.AdminService_TriggerSchedule_FullMethodName: adminsOnly,

	"/grpc.health.v1.Health/Check": public,
	"/grpc.health.v1.Health/Watch": public,
	"/grpc.health.v1.Health/List":  public,
	// Reflection describes the API, nothing else; any valid key may ask (grpcurl, ghz).
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      anyKey,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": anyKey,
}

// HasRule reports whether fullMethod has an authorization rule (a test checks that every
// method of the jq services has one).
func HasRule(fullMethod string) bool {
	_, ok := methodRules[fullMethod]
	return ok
}

// allows reports whether role may call fullMethod.
func allows(role apikey.Role, fullMethod string) bool {
	r, ok := methodRules[fullMethod]
	if !ok {
		return false
	}
	return role == apikey.RoleAdmin || r.public || slices.Contains(r.roles, role)
}

func isPublic(fullMethod string) bool { return methodRules[fullMethod].public }
