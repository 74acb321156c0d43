package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testleak"
	"github.com/jqhq/jq/internal/testserver"
	"github.com/jqhq/jq/worker"
)

// addr and key are the jq-server the examples talk to, and a key with role submitter.
var addr, key string

func TestMain(m *testing.M) {
	tb := &testdb.MainTB{}
	srv := testserver.Start(tb)
	addr, key = srv.GRPCAddr().String(), srv.Key(tb, apikey.RoleSubmitter)
	// A worker that answers every job with its payload's "greet" field.
	w, err := worker.New(worker.Config{ServerAddr: addr, Token: srv.Key(tb, apikey.RoleWorker), Concurrency: 2},
		worker.HandlerFunc(func(_ context.Context, j worker.Job) ([]byte, error) {
			var p struct{ Greet string }
			if err := json.Unmarshal(j.Payload, &p); err != nil {
				return nil, worker.Permanent(err)
			}
			return []byte("hello, " + p.Greet), nil
		}))
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	os.Exit(testleak.Run(m, func() {
		stop()
		<-done
		tb.Close()
	}))
}

// A Go program submits a job and waits for its result, without protobuf code.
func Example() {
	ctx := context.Background()
	c, err := client.New(addr, client.Options{Token: key}) // key: an API key with role submitter
	if err != nil {
		panic(err)
	}
	defer c.Close()

	sub, err := c.Submit(ctx, map[string]string{"greet": "jq"}, client.SubmitOptions{Queue: "default", IdempotencyKey: "greeting-1"})
	if err != nil {
		panic(err)
	}
	job, err := c.Wait(ctx, sub.ID, 50*time.Millisecond)
	if err != nil {
		panic(err)
	}
	fmt.Println(job.GetStatus(), string(job.GetResult()))

	again, err := c.Submit(ctx, map[string]string{"greet": "jq"}, client.SubmitOptions{IdempotencyKey: "greeting-1"})
	if err != nil {
		panic(err)
	}
	fmt.Println("same job:", again.ID == sub.ID, "deduplicated:", again.Deduplicated)
	// Output:
	// JOB_STATUS_DONE hello, jq
	// same job: true deduplicated: true
}

// An operator changed their mind: the job is cancelled before it runs, and Wait says so.
func ExampleClient_Cancel() {
	ctx := context.Background()
	c, err := client.New(addr, client.Options{Token: key})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	sub, err := c.Submit(ctx, map[string]string{"greet": "later"},
		client.SubmitOptions{NotBefore: time.Now().Add(time.Hour), ConcurrencyKey: "tenant-1"})
	if err != nil {
		panic(err)
	}
	job, err := c.Cancel(ctx, sub.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(job.GetStatus(), job.GetConcurrencyKey())
	_, err = c.Wait(ctx, sub.ID, 50*time.Millisecond)
	fmt.Println(errors.Is(err, client.ErrCancelled))
	// Output:
	// JOB_STATUS_CANCELLED tenant-1
	// true
}

// Command builds the payload jq-worker runs as a subprocess, without a shell.
func ExampleCommand() {
	payload, err := json.Marshal(client.Command("convert", "in.png", "out.webp"))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(payload))
	// Output: {"command":["convert","in.png","out.webp"]}
}
