// Package console is the jq console: a web UI for operators, served by jq-server on a listener
// of its own (ui.port). Pages are rendered on the server with html/template; the few lines of
// JavaScript in static/console.js only refresh the page and count a selection, so every page
// and action also works without script. Every asset is embedded in the binary.
//
// The console is another front door to the same services as gRPC: it signs callers in with
// their API key through the server's Authenticator, authorizes each page and action with the
// gRPC method it corresponds to (Principal.Allows), and performs actions by calling the
// in-process JobService and AdminService with the caller as principal, so queue scoping,
// fencing and audit are exactly those of the gRPC API. It reads the database directly only
// for what the API has no call for (filtered job lists, counts, charts); that SQL is in
// queries.go. docs/console.md explains the choices.
package console
