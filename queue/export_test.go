package queue

// OutboxHorizon is the relay's horizon expression, for tests that wait until it has passed
// what they committed.
const OutboxHorizon = outboxHorizon
