variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC CIDR."
  type        = string
}

variable "az_count" {
  description = "Number of availability zones."
  type        = number
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all private subnets."
  type        = bool
}

variable "flow_logs_traffic_type" {
  description = "ACCEPT, REJECT or ALL."
  type        = string
}

variable "flow_log_group_arn" {
  description = "CloudWatch log group receiving the VPC flow logs."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name (subnet discovery tags)."
  type        = string
}

variable "service_port" {
  description = "Port of the inference pods behind the ALB (target group port)."
  type        = number
}
