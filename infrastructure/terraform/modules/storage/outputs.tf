output "kms_key_arn" {
  description = "KMS key of the model artifacts, data lake and backups buckets."
  value       = aws_kms_key.storage.arn
}

output "replica_kms_key_arn" {
  description = "KMS key of the replica bucket (replica region)."
  value       = aws_kms_key.replica.arn
}

output "bucket_names" {
  description = "Bucket names by purpose: models, data-lake, backups, logs, replica."
  value       = merge({ for k, b in aws_s3_bucket.this : k => b.id }, { replica = aws_s3_bucket.replica.id })
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose."
  value       = merge({ for k, b in aws_s3_bucket.this : k => b.arn }, { replica = aws_s3_bucket.replica.arn })
}

output "logs_bucket_name" {
  description = "Bucket receiving S3 server access logs and ALB access logs."
  value       = aws_s3_bucket.this["logs"].id
}
