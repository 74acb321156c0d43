# The one exception: HTTPS from anywhere into a load balancer's group. No check may object.
resource "aws_security_group" "alb" {
  name = "alb"
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
