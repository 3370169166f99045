variable "name" {
  description = "Name prefix."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name (its control-plane log group is /aws/eks/<name>/cluster)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of every log group."
  type        = number
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "alarm_targets" {
  description = "Identifiers the alarms watch: db_instance_id, redis_replication_group_id, alb_arn_suffix, target_group_arn_suffixes (map color => suffix)."
  type = object({
    db_instance_id             = string
    redis_replication_group_id = string
    alb_arn_suffix             = string
    target_group_arn_suffixes  = map(string)
  })
}
