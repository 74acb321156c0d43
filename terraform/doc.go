// Package terraform checks jq's Terraform code (modules/ and environments/): every file parses,
// the policy tests hold it to the project's rules (tags, no hard-coded region or account,
// encryption on, nothing public but the load balancer), and where a terraform binary and a
// provider mirror are present, `terraform fmt -check` and `terraform validate` run too. The
// Terraform code itself is the .tf files; see README.md.
package terraform
