# Production: standbys everywhere, a NAT gateway per zone. No secrets here (README).
environment = "production"
namespace   = "job-queue-prod"
region      = "eu-west-1"

# Documentation range: replace with your office/VPN and CI egress ranges.
eks_public_access_cidrs = ["203.0.113.0/24"]

single_nat_gateway = false
eks_node_min_size  = 2
eks_node_max_size  = 10

rds_instance_class      = "db.r6g.large"
rds_multi_az            = true
rds_deletion_protection = true

redis_node_type = "cache.r6g.large"
redis_multi_az  = true

msk_broker_count  = 3
msk_instance_type = "kafka.m5.large"
