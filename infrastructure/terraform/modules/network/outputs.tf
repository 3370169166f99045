output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "Public subnet ids (ALB, NAT)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnet ids (nodes, RDS, Redis)."
  value       = local.private_ids
}

output "nat_gateway_ids" {
  description = "NAT gateway ids."
  value       = aws_nat_gateway.this[*].id
}

output "security_group_ids" {
  description = "Security group ids by role: alb, nodes, postgres, redis."
  value = {
    alb      = aws_security_group.alb.id
    nodes    = aws_security_group.nodes.id
    postgres = aws_security_group.data["postgres"].id
    redis    = aws_security_group.data["redis"].id
  }
}

output "flow_log_id" {
  description = "VPC flow log id."
  value       = aws_flow_log.this.id
}
