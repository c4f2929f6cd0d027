// Package deploy holds example deployment files, not code: a systemd unit (systemd/), Kubernetes
// manifests with Redis (kubernetes/) and an nginx forward-auth configuration (nginx/). Its tests
// check that the files parse and agree with each other and with eidsp's configuration; the nginx
// file is run for real by cmd/eidsp's tests.
package deploy
