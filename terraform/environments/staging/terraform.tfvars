# Staging: smallest sizes, no standbys. No secrets here (README).
environment = "staging"
namespace   = "job-queue-staging"
region      = "eu-west-1"

# Documentation range: replace with your office/VPN and CI egress ranges.
eks_public_access_cidrs = ["203.0.113.0/24"]

single_nat_gateway = true
eks_node_min_size  = 2
eks_node_max_size  = 10

rds_instance_class      = "db.t3.medium"
rds_multi_az            = false
rds_deletion_protection = false

redis_node_type = "cache.t3.micro"
redis_multi_az  = false

# MSK cannot run a single broker (it needs two zones): the smallest cluster has two.
msk_broker_count  = 2
msk_instance_type = "kafka.t3.small"
