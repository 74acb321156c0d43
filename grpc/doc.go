// Package grpc implements jq-server's gRPC transport: the JobService, WorkerService and
// AdminService implementations, the interceptor chain (metrics, logging, correlation ids, panic
// recovery), TLS, and client dialing.
package grpc
