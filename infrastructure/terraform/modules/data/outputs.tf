output "kms_key_arn" {
  description = "KMS key of the data tier."
  value       = aws_kms_key.data.arn
}

output "db_endpoint" {
  description = "RDS endpoint (host:port)."
  value       = aws_db_instance.this.endpoint
}

output "db_address" {
  description = "RDS host name."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "RDS port."
  value       = aws_db_instance.this.port
}

output "db_identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "db_arn" {
  description = "RDS instance ARN."
  value       = aws_db_instance.this.arn
}

output "db_name" {
  description = "Application database name."
  value       = aws_db_instance.this.db_name
}

output "db_username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret holding the master password (managed by RDS)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group id."
  value       = aws_elasticache_replication_group.this.id
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the Redis replication group (TLS, AUTH)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}

output "monitoring_role_arn" {
  description = "IAM role of RDS enhanced monitoring (IAM is global: the cross-region replica uses it too)."
  value       = aws_iam_role.rds_monitoring.arn
}

output "db_parameter_group_family" {
  description = "Parameter group family of the database (postgres<major>)."
  value       = aws_db_parameter_group.this.family
}

output "db_parameters" {
  description = "Parameters of the database's parameter group (name, value), for the replica's own group."
  value       = [for p in aws_db_parameter_group.this.parameter : { name = p.name, value = p.value }]
}
