# Kafka accepting plaintext clients and a Redis without TLS: checkEncryption must object.
resource "aws_msk_cluster" "kafka" {
  cluster_name = "x"
  encryption_info {
    encryption_at_rest_kms_key_arn = "k"
    encryption_in_transit {
      client_broker = "TLS_PLAINTEXT"
      in_cluster    = true
    }
  }
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "x"
  at_rest_encryption_enabled = true
  transit_encryption_enabled = false
  auth_token                 = var.token
}
