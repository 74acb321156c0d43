package k8s

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlay is one deployable environment.
type overlay struct {
	// Name is the folder under overlays/ and the environment's name in Terraform and in the
	// Secrets Manager entry names (jq/<Name>/...).
	Name string
	// Namespace is where everything of the overlay lands.
	Namespace string
	// ServerReplicas and WorkerReplicas are the Deployments' replica counts the issue asks for.
	ServerReplicas, WorkerReplicas int32
}

var overlays = []overlay{
	{Name: "staging", Namespace: "job-queue-staging", ServerReplicas: 1, WorkerReplicas: 1},
	{Name: "production", Namespace: "job-queue-prod", ServerReplicas: 2, WorkerReplicas: 3},
}

// object is one rendered manifest: its identity, its JSON and the typed value it decoded into.
type object struct {
	APIVersion, Kind, Name, Namespace string
	JSON                              []byte
	// Typed is a pointer to the k8s.io/api (or prometheus-operator) struct, or an
	// *externalSecret for the External Secrets kinds, which are checked against their CRD
	// schema instead.
	Typed any
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

// renderDir builds a kustomization with the Kustomize API (as `kustomize build` does, no binary
// needed) and decodes every object strictly. Rendering or decoding errors are returned, not
// fatal, so the tests that feed it broken fixtures can look at them.
func renderDir(dir string) ([]object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []object
	for _, r := range resMap.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: encode %s/%s: %w", dir, r.GetKind(), r.GetName(), err)
		}
		o := object{APIVersion: r.GetApiVersion(), Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace(), JSON: data}
		if o.Typed, err = decodeStrict(o); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, o, err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

var renderCache sync.Map // overlay name -> func() ([]object, error)

// renderOverlay renders overlays/<name> once per test binary; the tests share the result and
// must not modify it.
func renderOverlay(t *testing.T, name string) []object {
	t.Helper()
	f, _ := renderCache.LoadOrStore(name, sync.OnceValues(func() ([]object, error) {
		return renderDir(filepath.Join("overlays", name))
	}))
	objs, err := f.(func() ([]object, error))()
	require.NoError(t, err)
	return objs
}

// byKind returns the typed objects of one Go type.
func byKind[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Typed.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// named returns the one object of type T with the given name, or fails.
func named[T interface{ GetName() string }](t *testing.T, objs []object, name string) T {
	t.Helper()
	for _, v := range byKind[T](objs) {
		if v.GetName() == name {
			return v
		}
	}
	var zero T
	require.Failf(t, "object missing", "no %T named %s", zero, name)
	return zero
}
