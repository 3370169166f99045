output "alb_arn" {
  description = "ALB ARN."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ALB ARN suffix (CloudWatch dimension)."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "ALB DNS name."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone of the ALB (alias records)."
  value       = aws_lb.this.zone_id
}

output "https_listener_arn" {
  description = "HTTPS listener ARN (weighted blue/green forward)."
  value       = aws_lb_listener.https.arn
}

output "target_group_arns" {
  description = "Target group ARNs by color."
  value       = { for c, tg in aws_lb_target_group.this : c => tg.arn }
}

output "target_group_arn_suffixes" {
  description = "Target group ARN suffixes by color (CloudWatch dimension)."
  value       = { for c, tg in aws_lb_target_group.this : c => tg.arn_suffix }
}

output "certificate_arn" {
  description = "ACM certificate ARN."
  value       = aws_acm_certificate.this.arn
}

output "waf_acl_arn" {
  description = "WAFv2 web ACL ARN."
  value       = aws_wafv2_web_acl.this.arn
}
