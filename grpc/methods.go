package grpc

import "slices"

// Methods returns the metrics and log label (methodLabel) of every method registered on the
// server, sorted: the jq services, the health service and reflection. jq-server creates
// their jq_grpc_request_duration_seconds series at start-up from it.
func (s *Server) Methods() []string {
	var methods []string
	for service, info := range s.srv.GetServiceInfo() {
		for _, m := range info.Methods {
			methods = append(methods, methodLabel("/"+service+"/"+m.Name))
		}
	}
	slices.Sort(methods)
	return methods
}
