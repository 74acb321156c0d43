package worker

import (
	"os"

	"github.com/google/uuid"
)

// idNamespace derives worker ids from names (UUID version 5).
var idNamespace = uuid.MustParse("8f0c3a52-6f7e-4d0b-9b8e-6a1f0d0a7c11")

// ResolveID turns the configured worker id into a UUID: a UUID is used as it is; any other
// name (a Kubernetes pod name, say) maps to the same UUID every time; an empty one uses the
// hostname, so a worker restarted in the same pod comes back under the same id.
func ResolveID(configured string) (uuid.UUID, string) {
	if configured == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "jq-worker"
		}
		configured = host
	}
	if id, err := uuid.Parse(configured); err == nil {
		return id, configured
	}
	return uuid.NewSHA1(idNamespace, []byte(configured)), configured
}
