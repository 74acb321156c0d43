# PostgreSQL 15 for jq: private, encrypted with its own KMS key, 7 days of backups, the master
# password generated and kept in Secrets Manager by RDS itself (never in Terraform state), and
# a parameter group tuned for a queue table that churns.

resource "aws_kms_key" "rds" {
  description         = "${var.name}: RDS storage, snapshots, Performance Insights and the master user secret"
  enable_key_rotation = true
}

resource "aws_kms_alias" "rds" {
  name          = "alias/${var.name}-rds"
  target_key_id = aws_kms_key.rds.key_id
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-pg15-"
  family      = "postgres15"
  description = "jq on PostgreSQL 15"

  # jq-server pools: max_conns (20) x up to 5 instances, plus migrations, admin sessions and
  # headroom for a rolling update's extra pods.
  parameter {
    name         = "max_connections"
    value        = "200"
    apply_method = "pending-reboot"
  }
  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }
  parameter {
    name  = "pg_stat_statements.track"
    value = "all"
  }
  # Clients must use TLS (jq's URL carries sslmode=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Autovacuum. jq.jobs is rewritten about three times per job and then deleted, and
  # jq.job_events only grows: the migrations give each table its own thresholds (db/migrations),
  # which need workers that wake often and are free to run. More workers than the default three,
  # so a long vacuum of job_events never holds up jobs'; a short naptime so jobs' low threshold
  # is acted on within seconds; and every slow run logged.
  parameter {
    name         = "autovacuum_max_workers"
    value        = "5"
    apply_method = "pending-reboot"
  }
  parameter {
    name  = "autovacuum_naptime"
    value = "10"
  }
  parameter {
    name  = "autovacuum_vacuum_cost_limit"
    value = "2000"
  }
  parameter {
    name  = "autovacuum_work_mem"
    value = "262144"
  }
  parameter {
    name  = "log_autovacuum_min_duration"
    value = "1000"
  }
  parameter {
    name  = "track_io_timing"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name                       = "jq"
  username                      = "jq_admin"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.rds.arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.rds.arn

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = 7
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.rds.arn
  performance_insights_retention_period = 7
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
}
