variable "name" {
  description = "Name prefix."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "force_destroy" {
  description = "Let terraform destroy empty non-empty buckets (never in production)."
  type        = bool
}

variable "data_lake_ia_transition_days" {
  description = "Days before data-lake objects move to STANDARD_IA."
  type        = number
}

variable "data_lake_glacier_transition_days" {
  description = "Days before data-lake objects move to GLACIER_IR."
  type        = number
}

variable "noncurrent_version_expiration_days" {
  description = "Days noncurrent versions are kept."
  type        = number
}
