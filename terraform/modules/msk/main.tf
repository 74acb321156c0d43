# Amazon MSK for jq's lifecycle events: Kafka 3.5, private, TLS between clients and brokers and
# between brokers, KMS at rest, SASL/SCRAM users from Secrets Manager, broker logs in CloudWatch.

locals {
  # Brokers spread evenly over the zones of the subnets they use.
  zones              = min(var.broker_count, length(var.subnet_ids))
  replication_factor = min(var.broker_count, 3)
}

resource "aws_kms_key" "msk" {
  description         = "${var.name}: MSK at-rest encryption"
  enable_key_rotation = true
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/aws/msk/${var.name}"
  retention_in_days = 30
}

# jq does not create its topics (job.submitted, job.started, ...); the brokers do on first use,
# replicated as durably as the cluster allows.
resource "aws_msk_configuration" "this" {
  name           = "${var.name}-kafka-3-5"
  kafka_versions = [var.kafka_version]
  server_properties = join("\n", [
    "auto.create.topics.enable=true",
    "default.replication.factor=${local.replication_factor}",
    "min.insync.replicas=${max(1, local.replication_factor - 1)}",
    "num.partitions=6",
    "unclean.leader.election.enable=false",
  ])
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = slice(var.subnet_ids, 0, local.zones)
    security_groups = [var.security_group_id]
    storage_info {
      ebs_storage_info {
        volume_size = var.ebs_volume_size_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.msk.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      scram = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.broker_count % local.zones == 0 && local.zones >= 2
      error_message = "MSK needs brokers in at least two zones and the same number in each: broker_count must be a multiple of the subnets used (2 or 3)."
    }
  }
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [var.scram_secret_arn]
}
