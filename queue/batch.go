package queue

// The Completer and the Inserter batch the requests of concurrent callers the same way: one
// loop takes a request and every other already queued, handles them together, and repeats.
// Batches thus grow with the load on their own, and a lone request goes out at once.

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

// drainEach hands each request still queued on in to handle, alone, until none is left.
func drainEach[T any](in <-chan T, handle func(T)) {
	for {
		select {
		case req := <-in:
			handle(req)
		default:
			return
		}
	}
}
