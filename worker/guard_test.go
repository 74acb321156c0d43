package worker_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/worker"
)

func TestGuard_Env(t *testing.T) {
	t.Parallel()
	g := worker.Guard{AllowedEnv: []string{"PYTHONPATH", "MY_*"}}
	for name, refused := range map[string]bool{
		"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "DYLD_INSERT_LIBRARIES": true, "GCONV_PATH": true,
		"PATH": true, "BASH_ENV": true, "NODE_OPTIONS": true, "JQ_TOKEN": true, "BASH_FUNC_x%%": true,
		"A=B": true, "": true,
		"PYTHONPATH": false, "MY_SETTING": false, "GREETING": false, "HOME": false,
	} {
		err := g.Check(worker.ExecPayload{Command: []string{"true"}, Env: map[string]string{name: "x"}})
		require.Equal(t, refused, err != nil, "env %q: %v", name, err)
	}
	err := worker.Guard{}.Check(worker.ExecPayload{Command: []string{"true"}, Env: map[string]string{"LD_PRELOAD": "/tmp/evil.so"}})
	require.ErrorContains(t, err, "worker.allowed_env", "the error says how to allow it")
}

func TestGuard_Commands(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	sh, err = filepath.Abs(sh)
	require.NoError(t, err)
	dir := filepath.Dir(sh)
	for _, tc := range []struct {
		allowed []string
		prog    string
		ok      bool
	}{
		{nil, "/anything/at/all", true},
		{[]string{"sh"}, "sh", true},
		{[]string{"sh"}, sh, false},                               // a bare glob allows the bare name only
		{[]string{"sh"}, filepath.Join(t.TempDir(), "sh"), false}, // …never a program of that name elsewhere
		{[]string{dir + "/*"}, "sh", true},                        // a bare name is looked up on the PATH
		{[]string{dir + "/*"}, sh, true},
		{[]string{dir + "/*"}, dir + "/../" + filepath.Base(dir) + "/sh", true}, // cleaned first
		{[]string{dir + "/*"}, "/opt/elsewhere/sh", false},
		{[]string{dir + "/*"}, dir + "/sub/dir/sh", false}, // * stops at a slash
		{[]string{"python3", dir + "/sh"}, "sh", true},
		{[]string{"python3"}, "no-such-program-here", false},
	} {
		err := worker.Guard{AllowedCommands: tc.allowed}.Check(worker.ExecPayload{Command: []string{tc.prog}})
		require.Equal(t, tc.ok, err == nil, "allowed %v, program %q: %v", tc.allowed, tc.prog, err)
	}
}

// TestExec_GuardFailsPermanently: a refused payload never runs and is not retried.
func TestExec_GuardFailsPermanently(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	e := worker.Exec{Guard: worker.Guard{AllowedCommands: []string{"true"}}}
	_, err := e.Handle(context.Background(), worker.Job{Payload: []byte(`{"command": ["touch", "` + marker + `"]}`)})
	require.Error(t, err)
	require.True(t, worker.IsPermanent(err))
	require.NoFileExists(t, marker)

	_, err = worker.Exec{}.Handle(context.Background(), worker.Job{Payload: []byte(`{"command": ["touch", "` + marker + `"], "env": {"LD_PRELOAD": "/nonexistent.so"}}`)})
	require.True(t, worker.IsPermanent(err), "%v", err)
	require.NoFileExists(t, marker)

	_, err = e.Handle(context.Background(), worker.Job{Payload: []byte(`{"command": ["true"]}`)})
	require.NoError(t, err)
}
