// Package queue is the jq domain: jobs, queues and workers, the errors their transitions can
// end in, the retry policy, and the Store that performs every transition by calling the SQL
// functions of schema jq (sqlfuncs/). The store never writes job state itself.
package queue
