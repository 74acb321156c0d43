package grpc

import (
	"context"
	"encoding/json"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/queue/cronexpr"
	"github.com/jqhq/jq/queue/queuename"
)

// maxSchedulePayload bounds a schedule's payload: it is submitted as a job's at every time.
const maxSchedulePayload = 1 << 20

// CreateSchedule creates (or with replace, redefines) a periodic schedule. Its expression and
// time zone are parsed here, so a mistake is INVALID_ARGUMENT with the parser's reason.
func (s *AdminService) CreateSchedule(ctx context.Context, req *jqv1.CreateScheduleRequest) (*jqv1.CreateScheduleResponse, error) {
	if err := validateScheduleName(req.GetName()); err != nil {
		return nil, err
	}
	if _, err := cronexpr.Parse(req.GetCron(), req.GetTimeZone()); err != nil {
		return nil, invalid("%v", err)
	}
	if err := validateQueueName("queue_name", req.GetQueueName()); err != nil {
		return nil, err
	}
	switch payload := req.GetPayload(); {
	case len(payload) == 0:
		return nil, invalid("payload is required (a JSON document)")
	case len(payload) > maxSchedulePayload:
		return nil, invalid("payload is %d bytes, over the limit of %d", len(payload), maxSchedulePayload)
	case !json.Valid(payload):
		return nil, invalid("payload is not valid JSON")
	}
	if p := req.GetPriority(); p < 0 || p > 9 {
		return nil, invalid("priority %d is outside 0-9", p)
	}
	p := queue.ScheduleParams{
		Name: req.GetName(), Cron: req.GetCron(), TimeZone: req.GetTimeZone(), Queue: req.GetQueueName(), Payload: req.GetPayload(),
		Priority: int(req.GetPriority()), Overlap: req.GetOverlap(), CatchUp: req.GetCatchUp(), Replace: req.GetReplace(),
		Actor: caller(ctx).Name,
	}
	if req.MaxRetries != nil {
		n := int(req.GetMaxRetries())
		if n < 0 || n > 1000 {
			return nil, invalid("max_retries %d is outside 0-1000", n)
		}
		p.MaxRetries = &n
	}
	switch p.Overlap {
	case "", queue.OverlapAllow, queue.OverlapSkip:
	default:
		return nil, invalid("overlap %q must be %s or %s", p.Overlap, queue.OverlapAllow, queue.OverlapSkip)
	}
	switch p.CatchUp {
	case "", queue.CatchUpNone, queue.CatchUpLast:
	default:
		return nil, invalid("catch_up %q must be %s or %s", p.CatchUp, queue.CatchUpNone, queue.CatchUpLast)
	}
	sc, err := s.store.CreateSchedule(ctx, p)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.scheduleChanged()
	return &jqv1.CreateScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

func validateScheduleName(name string) error {
	if name == "" {
		return invalid("name is required")
	}
	if !queuename.Valid(name) {
		return invalid("name %q is invalid: use %s", name, queuename.Rule)
	}
	return nil
}

// ListSchedules lists every schedule.
func (s *AdminService) ListSchedules(ctx context.Context, _ *jqv1.ListSchedulesRequest) (*jqv1.ListSchedulesResponse, error) {
	all, err := s.store.ListSchedules(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListSchedulesResponse{}
	p := caller(ctx)
	for _, sc := range all {
		if p.MayUse(sc.Queue) {
			resp.Schedules = append(resp.Schedules, scheduleToProto(sc))
		}
	}
	return resp, nil
}

// DeleteSchedule deletes a schedule; one of the configuration is FAILED_PRECONDITION.
func (s *AdminService) DeleteSchedule(ctx context.Context, req *jqv1.DeleteScheduleRequest) (*jqv1.DeleteScheduleResponse, error) {
	if err := validateScheduleName(req.GetName()); err != nil {
		return nil, err
	}
	if _, err := s.store.DeleteSchedule(ctx, req.GetName(), caller(ctx).Name, false); err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.DeleteScheduleResponse{}, nil
}

// PauseSchedule stops a schedule firing.
func (s *AdminService) PauseSchedule(ctx context.Context, req *jqv1.PauseScheduleRequest) (*jqv1.PauseScheduleResponse, error) {
	if err := validateScheduleName(req.GetName()); err != nil {
		return nil, err
	}
	sc, err := s.store.PauseSchedule(ctx, req.GetName(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.PauseScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// ResumeSchedule resumes a paused schedule from now.
func (s *AdminService) ResumeSchedule(ctx context.Context, req *jqv1.ResumeScheduleRequest) (*jqv1.ResumeScheduleResponse, error) {
	if err := validateScheduleName(req.GetName()); err != nil {
		return nil, err
	}
	sc, err := s.store.ResumeSchedule(ctx, req.GetName(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.scheduleChanged()
	return &jqv1.ResumeScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// TriggerSchedule fires a schedule now and returns its job.
func (s *AdminService) TriggerSchedule(ctx context.Context, req *jqv1.TriggerScheduleRequest) (*jqv1.TriggerScheduleResponse, error) {
	if err := validateScheduleName(req.GetName()); err != nil {
		return nil, err
	}
	id, err := s.store.TriggerSchedule(ctx, req.GetName(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.TriggerScheduleResponse{JobId: id.String()}, nil
}
