variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the ALB."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the ALB."
  type        = string
}

variable "domain_name" {
  description = "DNS name of the certificate."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone for DNS validation; empty = validate out of band."
  type        = string
}

variable "blue_weight" {
  description = "Weight of the blue target group."
  type        = number
}

variable "green_weight" {
  description = "Weight of the green target group."
  type        = number
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per IP."
  type        = number
}

variable "waf_log_group_arn" {
  description = "CloudWatch log group (aws-waf-logs-*) of the WAF."
  type        = string
}

variable "access_logs_bucket" {
  description = "Bucket of the ALB access logs (prefix alb/)."
  type        = string
}

variable "service_port" {
  description = "Port of the inference pods (target group port)."
  type        = number
}

variable "deletion_protection" {
  description = "ALB deletion protection."
  type        = bool
}
