environment = "staging"
namespace   = "job-queue-staging"
region      = "eu-west-1"
