# EKS nodes (and, through VPC CNI, their pods). The data stores below admit this group only.
resource "aws_security_group" "nodes" {
  name        = "${var.name}-eks-nodes"
  description = "EKS worker nodes of ${var.name}"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-eks-nodes" }
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_nodes" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "node to node and pod to pod"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "-1"
}

# Nodes pull images, reach AWS APIs through the NAT gateway and talk to the data stores.
resource "aws_vpc_security_group_egress_rule" "nodes_all" {
  security_group_id = aws_security_group.nodes.id
  description       = "all outbound"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "rds" {
  name        = "${var.name}-rds"
  description = "PostgreSQL of ${var.name}: reachable from the EKS nodes only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-rds" }
}

resource "aws_vpc_security_group_ingress_rule" "rds_from_nodes" {
  security_group_id            = aws_security_group.rds.id
  description                  = "PostgreSQL from EKS nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "elasticache" {
  name        = "${var.name}-elasticache"
  description = "Redis of ${var.name}: reachable from the EKS nodes only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-elasticache" }
}

resource "aws_vpc_security_group_ingress_rule" "elasticache_from_nodes" {
  security_group_id            = aws_security_group.elasticache.id
  description                  = "Redis (TLS) from EKS nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_security_group" "msk" {
  name        = "${var.name}-msk"
  description = "Kafka of ${var.name}: reachable from the EKS nodes only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-msk" }
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_nodes" {
  security_group_id            = aws_security_group.msk.id
  description                  = "Kafka SASL/SCRAM over TLS from EKS nodes"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = 9096
  to_port                      = 9096
}
