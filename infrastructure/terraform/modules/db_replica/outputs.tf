output "db_identifier" {
  description = "Identifier of the replica (dr_failover_db_instance_id)."
  value       = aws_db_instance.this.identifier
}

output "db_arn" {
  description = "ARN of the replica."
  value       = aws_db_instance.this.arn
}

output "db_address" {
  description = "Host name of the replica."
  value       = aws_db_instance.this.address
}

output "region" {
  description = "Region of the replica."
  value       = data.aws_region.current.name
}

output "kms_key_arn" {
  description = "KMS key of the replica (its region)."
  value       = aws_kms_key.this.arn
}

output "subnet_group_name" {
  description = "DB subnet group in the replica region (also for dr_failover's restore_snapshot path)."
  value       = aws_db_subnet_group.this.name
}

output "security_group_id" {
  description = "Security group of the replica."
  value       = aws_security_group.db.id
}
