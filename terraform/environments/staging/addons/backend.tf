# Its own state beside the environment's: terraform init -backend-config=../backend.hcl
terraform {
  backend "s3" {
    key     = "jq/staging/addons.tfstate"
    encrypt = true
  }
}
