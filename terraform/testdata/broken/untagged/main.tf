# A provider whose default_tags miss ManagedBy and hard-code the environment: checkTags must object.
provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "jq"
      Environment = "staging"
    }
  }
}
