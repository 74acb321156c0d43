# The Helm provider cannot be installed on machines without registry access; keeping the Helm
# releases in this module alone lets everything else be validated there (README, "Checks").
terraform {
  required_version = ">= 1.6"
  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
  }
}
