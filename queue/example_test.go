package queue_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jqhq/jq/queue"
)

// A Go program that shares jq's database submits a job within its own transaction: the job
// exists if, and only if, the transaction commits, with the rest of its work.
func ExampleSubmitTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleDB) // the application's own pool on jq's database
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	count := func() (n int) {
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE payload->>'order' = '42'`).Scan(&n)
		return n
	}

	// The order is saved and its confirmation queued, or neither.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// ... INSERT INTO orders ... in tx
		_, err := queue.SubmitTx(ctx, tx, queue.SubmitParams{Queue: "default", Payload: []byte(`{"order": "42", "command": ["send-confirmation", "42"]}`)})
		if err != nil {
			return err
		}
		return fmt.Errorf("the order could not be saved") // the transaction rolls back
	})
	fmt.Println(err, "- jobs:", count())

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := queue.SubmitTx(ctx, tx, queue.SubmitParams{Queue: "default", Payload: []byte(`{"order": "42", "command": ["send-confirmation", "42"]}`)})
		return err
	})
	fmt.Println(err, "- jobs:", count())
	// Output:
	// the order could not be saved - jobs: 0
	// <nil> - jobs: 1
}
