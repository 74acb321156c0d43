package terraform

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

// tfFile is one parsed Terraform file.
type tfFile struct {
	Path string // slash path relative to the folder it was loaded from
	Src  []byte
	Body *hclsyntax.Body
}

// parseTree parses every .tf, .tfvars and .hcl file under root (skipping .terraform folders and
// testdata), returning the files and every parse error.
func parseTree(root string) ([]tfFile, error) {
	parser := hclparse.NewParser()
	var files []tfFile
	var diags hcl.Diagnostics
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == ".terraform" || d.Name() == "testdata") {
				return fs.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if ext != ".tf" && ext != ".tfvars" && !strings.HasSuffix(p, ".hcl.example") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, d2 := parser.ParseHCL(src, p)
		diags = append(diags, d2...)
		if f == nil || d2.HasErrors() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, tfFile{Path: filepath.ToSlash(rel), Src: src, Body: f.Body.(*hclsyntax.Body)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	if diags.HasErrors() {
		return files, diags
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// block is a top-level block with the file it is in.
type block struct {
	File string
	*hclsyntax.Block
}

func (b block) String() string {
	return fmt.Sprintf("%s: %s %s", b.File, b.Type, strings.Join(b.Labels, "."))
}

// blocks returns the top-level blocks of the given type whose first labels match.
func blocks(files []tfFile, typ string, labels ...string) []block {
	var out []block
	for _, f := range files {
		for _, b := range f.Body.Blocks {
			if b.Type != typ || len(b.Labels) < len(labels) {
				continue
			}
			match := true
			for i, l := range labels {
				match = match && b.Labels[i] == l
			}
			if match {
				out = append(out, block{File: f.Path, Block: b})
			}
		}
	}
	return out
}

// inDir keeps the files directly inside dir (one Terraform module or root).
func inDir(files []tfFile, dir string) []tfFile {
	var out []tfFile
	for _, f := range files {
		if filepath.ToSlash(filepath.Dir(f.Path)) == dir {
			out = append(out, f)
		}
	}
	return out
}

// nested returns a body's child blocks of a type.
func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// literal evaluates an attribute that needs no variables; ok is false when it is absent or
// refers to something (var.x, a resource).
func literal(body *hclsyntax.Body, name string) (cty.Value, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func literalString(body *hclsyntax.Body, name string) (string, bool) {
	v, ok := literal(body, name)
	if !ok || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func literalBool(body *hclsyntax.Body, name string) (value, ok bool) {
	v, ok := literal(body, name)
	if !ok || v.IsNull() || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// reference returns the dotted traversal an attribute is (e.g. "var.environment"), or "".
func reference(body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		return ""
	}
	return traversalString(a.Expr)
}

func traversalString(e hclsyntax.Expression) string {
	t, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return ""
	}
	var parts []string
	for _, step := range t.Traversal {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		default:
			return ""
		}
	}
	return strings.Join(parts, ".")
}

// tfvars reads the literal values of a .tfvars file.
func tfvars(t *testing.T, files []tfFile, path string) map[string]cty.Value {
	t.Helper()
	for _, f := range files {
		if f.Path != path {
			continue
		}
		out := map[string]cty.Value{}
		for name := range f.Body.Attributes {
			v, ok := literal(f.Body, name)
			require.Truef(t, ok, "%s: %s must be a literal", path, name)
			out[name] = v
		}
		return out
	}
	require.Failf(t, "missing file", "%s not found", path)
	return nil
}

// TestHCL_EveryFileParses parses every Terraform file with the HCL parser Terraform uses, so a
// syntax error fails here even where no terraform binary is installed.
func TestHCL_EveryFileParses(t *testing.T) {
	t.Parallel()
	files, err := parseTree(".")
	require.NoError(t, err)
	require.Greater(t, len(files), 40, "the modules and environments hold dozens of files")
}

// loadTree parses the whole tree once per test.
func loadTree(t *testing.T) []tfFile {
	t.Helper()
	files, err := parseTree(".")
	require.NoError(t, err)
	return files
}
