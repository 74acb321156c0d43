// Package deploy holds the deployment files (compose, Prometheus, Kubernetes, Dockerfiles) and the tests that check them.
package deploy
