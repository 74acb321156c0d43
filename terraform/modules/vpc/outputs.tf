output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancers, NAT gateways), one per zone."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (EKS, RDS, ElastiCache, MSK), one per zone."
  value       = aws_subnet.private[*].id
}

output "node_security_group_id" {
  description = "Security group of the EKS nodes; the data stores admit it."
  value       = aws_security_group.nodes.id
}

output "rds_security_group_id" {
  description = "Security group of RDS."
  value       = aws_security_group.rds.id
}

output "elasticache_security_group_id" {
  description = "Security group of ElastiCache."
  value       = aws_security_group.elasticache.id
}

output "msk_security_group_id" {
  description = "Security group of MSK."
  value       = aws_security_group.msk.id
}
