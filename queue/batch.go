package queue

import (
	"context"
	"sync"

	"github.com/riverqueue/river/rivershared/startstop"
)

// batchLoop is how the Completer and the Inserter batch the requests of concurrent callers:
// one loop takes a request and every other already queued (up to max), hands them to flush
// together, and repeats. Up to parallel flushes run at once; while all are busy, the queue
// grows into the next batch. Batches thus grow with the load on their own, and a lone request
// goes out at once. When the loop stops, what is still queued is handled, alone.
type batchLoop[T any] struct {
	startstop.BaseStartStop

	in       chan T
	max      int
	flush    func(ctx context.Context, batch []T)
	flushing chan struct{} // a token per flush in flight
}

func newBatchLoop[T any](maxBatch, parallel int, flush func(ctx context.Context, batch []T)) batchLoop[T] {
	return batchLoop[T]{in: make(chan T, 4*maxBatch), max: maxBatch, flush: flush, flushing: make(chan struct{}, max(parallel, 1))}
}

// Queued is the number of requests waiting for a flush (tests wait on it).
func (b *batchLoop[T]) Queued() int { return len(b.in) }

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
		var inflight sync.WaitGroup
		for {
			var first T
			select {
			case <-ctx.Done():
				inflight.Wait()
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
			b.flushing <- struct{}{} // while every flush is busy, the next batch grows
			batch := takeQueued(first, b.in, b.max)
			inflight.Go(func() {
				defer func() { <-b.flushing }()
				b.flush(context.WithoutCancel(ctx), batch)
			})
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
