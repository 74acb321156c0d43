package httpserve

import "time"

// SetShutdownTimeout lets tests shorten how long Stop waits for in-flight requests.
func (s *Server) SetShutdownTimeout(d time.Duration) { s.shutdownTimeout = d }
