variable "name" {
  description = "Name prefix."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for RDS and ElastiCache."
  type        = list(string)
}

variable "db_security_group_id" {
  description = "Security group of the database."
  type        = string
}

variable "redis_security_group_id" {
  description = "Security group of Redis."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "KMS deletion window."
  type        = number
}

variable "db" {
  description = "RDS PostgreSQL settings."
  type = object({
    instance_class          = string
    engine_version          = string
    allocated_storage       = number
    max_allocated_storage   = number
    multi_az                = bool
    name                    = string
    username                = string
    backup_retention_period = number
    deletion_protection     = bool
  })
}

variable "redis" {
  description = "ElastiCache Redis settings."
  type = object({
    node_type          = string
    num_cache_clusters = number
    engine_version     = string
  })
}

variable "redis_auth_token" {
  description = "Redis AUTH token."
  type        = string
  sensitive   = true
}
