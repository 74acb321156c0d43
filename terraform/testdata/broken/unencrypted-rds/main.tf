# A database left unencrypted and public: checkEncryption and checkNothingPublic must object.
resource "aws_db_instance" "db" {
  engine              = "postgres"
  instance_class      = "db.t3.medium"
  publicly_accessible = true
}
