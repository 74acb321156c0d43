variable "repositories" {
  description = "Repositories to create, one per image (deploy/docker/Dockerfile.*)."
  type        = list(string)
  default     = ["jq-server", "jq-worker", "jq-ctl"]
}

variable "keep_images" {
  description = "Images kept per repository; older ones expire."
  type        = number
  default     = 20
}

variable "untagged_expiry_days" {
  description = "Days after which an untagged image expires."
  type        = number
  default     = 7
}
