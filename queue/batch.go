package queue

import (
	"context"

	"github.com/riverqueue/river/rivershared/startstop"
)

// batchLoop is how the Completer and the Inserter batch the requests of concurrent callers:
// one loop takes a request and every other already queued (up to max), handles them
// together with flush, and repeats. Batches thus grow with the load on their own, and a lone
// request goes out at once. When the loop stops, what is still queued is handled, alone.
type batchLoop[T any] struct {
	startstop.BaseStartStop

	in    chan T
	max   int
	flush func(ctx context.Context, batch []T)
}

func newBatchLoop[T any](max int, flush func(ctx context.Context, batch []T)) batchLoop[T] {
	return batchLoop[T]{in: make(chan T, 4*max), max: max, flush: flush}
}

// enqueue hands req to the loop, unless ctx ends first.
func (b *batchLoop[T]) enqueue(ctx context.Context, req T) error {
	select {
	case b.in <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start runs the loop until ctx ends or Stop is called. Requests wait for it: start it
// before serving.
func (b *batchLoop[T]) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := b.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		for {
			var first T
			select {
			case <-ctx.Done():
				for {
					select {
					case req := <-b.in:
						b.flush(context.Background(), []T{req})
					default:
						return
					}
				}
			case first = <-b.in:
			}
			b.flush(context.WithoutCancel(ctx), takeQueued(first, b.in, b.max))
		}
	}()
	return nil
}

// takeQueued returns first and the requests queued behind it on in, up to max in all,
// without waiting for more.
func takeQueued[T any](first T, in <-chan T, max int) []T {
	batch := []T{first}
	for len(batch) < max {
		select {
		case req := <-in:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}
