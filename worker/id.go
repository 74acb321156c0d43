package worker

import (
	"os"

	"github.com/google/uuid"
)

// idNamespace derives worker ids from names (UUID version 5).
var idNamespace = uuid.MustParse("8f0c3a52-6f7e-4d0b-9b8e-6a1f0d0a7c11")

// ResolveID turns the configured worker id into a UUID and a name for the logs: a UUID is used
// as it is; any other name (a Kubernetes pod name, say) maps to the same UUID every time, so a
// restarted pod comes back under its id and reclaims its work at once; an empty one gives each
// process an id of its own (named after the host), so that two workers started on one machine
// never take each other's id.
func ResolveID(configured string) (uuid.UUID, string) {
	if configured == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "jq-worker"
		}
		id := uuid.New()
		return id, host + "/" + id.String()[:8]
	}
	if id, err := uuid.Parse(configured); err == nil {
		return id, configured
	}
	return uuid.NewSHA1(idNamespace, []byte(configured)), configured
}
