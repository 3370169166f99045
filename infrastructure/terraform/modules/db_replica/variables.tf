variable "name" {
  description = "Name prefix."
  type        = string
}

variable "source_db_arn" {
  description = "ARN of the source DB instance in the primary region (cross-region replicas name their source by ARN)."
  type        = string
}

variable "parameter_group_family" {
  description = "Parameter group family of the source (postgres<major>)."
  type        = string
}

variable "parameters" {
  description = "Parameters of the source's parameter group, repeated in the replica region's own group."
  type = list(object({
    name  = string
    value = string
  }))
}

variable "instance_class" {
  description = "Instance class of the replica (the primary's: it must carry the load after promotion)."
  type        = string
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
}

variable "backup_retention_period" {
  description = "Automated backups of the replica (enabled before promotion, so the promoted instance has point-in-time recovery at once)."
  type        = number
}

variable "deletion_protection" {
  description = "Deletion protection of the replica."
  type        = bool
}

variable "monitoring_role_arn" {
  description = "IAM role of RDS enhanced monitoring (global)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the isolated database VPC in the replica region (/16 to /22; two /24 private subnets)."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the VPC flow log group."
  type        = number
}
