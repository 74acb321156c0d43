variable "environment" {
  description = "Environment name (staging, production); entries are named jq/<environment>/..."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 7
}
