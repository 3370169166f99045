"""The Kubernetes API test server: a test double, not Kubernetes (see kubeapi.server and docs/kubeapi-test-server.md)."""
