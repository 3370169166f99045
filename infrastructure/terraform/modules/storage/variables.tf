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

variable "backup_retention_days" {
  description = "Days backup dumps and archives are kept; they expire the day after. Also how long noncurrent versions in the backups bucket are kept."
  type        = number
}

variable "backup_prefixes" {
  description = "Key prefixes of the backup jobs in the backups bucket (backup_cronjobs_*_prefix): postgres, kube_config, appdata."
  type = object({
    postgres    = string
    kube_config = string
    appdata     = string
  })
}
