package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

const externalSecretsGroup = "external-secrets.io"

// externalSecretCRD is the CustomResourceDefinition vendored from the External Secrets Operator
// (see its header for the version and why).
const externalSecretCRD = "testdata/crds/external-secrets.io_externalsecrets.yaml"

// externalSecret is the part of an ExternalSecret the policy tests read. The whole object has
// been validated against the CRD's schema before it is decoded into this.
type externalSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretStoreRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"secretStoreRef"`
		Target struct {
			Name string `json:"name"`
		} `json:"target"`
		Data []struct {
			SecretKey string `json:"secretKey"`
			RemoteRef struct {
				Key      string `json:"key"`
				Property string `json:"property"`
			} `json:"remoteRef"`
		} `json:"data"`
	} `json:"spec"`
}

// decodeExternalSecret validates an External Secrets object against the served version of the
// vendored CRD, with unknown fields refused as strict field validation would, then decodes the
// parts the tests read.
func decodeExternalSecret(gvk schema.GroupVersionKind, data []byte) (any, error) {
	if gvk.Kind != "ExternalSecret" {
		return nil, fmt.Errorf("no CRD schema vendored for %s", gvk)
	}
	schemas, err := externalSecretSchemas()
	if err != nil {
		return nil, err
	}
	s, ok := schemas[gvk.Version]
	if !ok {
		return nil, fmt.Errorf("%s is not a served version of the vendored CRD", gvk)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", gvk.Kind, err)
	}
	if err := validate.AgainstSchema(s, doc, strfmt.Default); err != nil {
		return nil, fmt.Errorf("%s does not match the CRD schema: %w", gvk.Kind, err)
	}
	// The CRD leaves metadata open (type: object); the API server checks it as ObjectMeta.
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	if err := unmarshalStrict(meta.Metadata, &metav1.ObjectMeta{}); err != nil {
		return nil, err
	}
	es := &externalSecret{}
	if err := json.Unmarshal(data, es); err != nil {
		return nil, fmt.Errorf("decode %s: %w", gvk.Kind, err)
	}
	return es, nil
}

// externalSecretSchemas reads the served versions' schemas of the vendored CRD, once.
var externalSecretSchemas = sync.OnceValues(func() (map[string]*spec.Schema, error) {
	data, err := os.ReadFile(externalSecretCRD)
	if err != nil {
		return nil, fmt.Errorf("read vendored CRD: %w", err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
				Schema struct {
					OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return nil, fmt.Errorf("decode %s: %w", externalSecretCRD, err)
	}
	out := map[string]*spec.Schema{}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		s := &spec.Schema{}
		if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
			return nil, fmt.Errorf("%s version %s: %w", externalSecretCRD, v.Name, err)
		}
		closeObjects(s)
		out[v.Name] = s
	}
	if len(out) == 0 {
		return nil, errors.New(externalSecretCRD + ": no served version")
	}
	return out, nil
})

// closeObjects makes every object schema that lists its properties refuse any other, as the API
// server's strict field validation does for structural schemas, except below
// x-kubernetes-preserve-unknown-fields or where the schema declares additionalProperties.
func closeObjects(s *spec.Schema) {
	if preserve, _ := s.Extensions.GetBool("x-kubernetes-preserve-unknown-fields"); preserve {
		return
	}
	if s.Type.Contains("object") && len(s.Properties) > 0 && s.AdditionalProperties == nil {
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: false}
	}
	for name, p := range s.Properties {
		closeObjects(&p)
		s.Properties[name] = p
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		closeObjects(s.AdditionalProperties.Schema)
	}
	if s.Items != nil {
		if s.Items.Schema != nil {
			closeObjects(s.Items.Schema)
		}
		for i := range s.Items.Schemas {
			closeObjects(&s.Items.Schemas[i])
		}
	}
}
