environment = "production"
namespace   = "job-queue-prod"
region      = "eu-west-1"
