package queue

import (
	"math"
	"time"
)

// BackoffJitter is the largest share of the delay added as jitter.
const BackoffJitter = 0.1

// Backoff is the delay before retry number retryCount+1:
//
//	min(base·2^retryCount, maxDelay) · (1 + BackoffJitter·jitter),  jitter in [0, 1]
//
// It is the formula jq.backoff applies in SQL (sqlfuncs/01_common.sql); a test proves they
// agree. The delay never exceeds maxDelay·(1+BackoffJitter).
func Backoff(retryCount int, base, maxDelay time.Duration, jitter float64) time.Duration {
	exp := float64(min(max(retryCount, 0), 62))
	d := math.Min(base.Seconds()*math.Pow(2, exp), maxDelay.Seconds())
	jitter = math.Min(math.Max(jitter, 0), 1)
	return time.Duration(math.Round(d*(1+BackoffJitter*jitter)*1e6)) * time.Microsecond
}
