# The cluster add-ons jq's manifests rely on, installed with Helm:
#   - AWS Load Balancer Controller: the Ingress becomes an internet-facing ALB (gRPC over 443).
#   - External Secrets Operator, plus the ClusterSecretStore the ExternalSecrets name.
#   - kube-prometheus-stack: Prometheus and the operator that reads the ServiceMonitors and the
#     PrometheusRule; Alertmanager configured from rules/alertmanager.yml (the same file the
#     compose stack and the rule checks use), its PagerDuty/Slack keys from Secrets Manager.
#   - prometheus-adapter: serves jq_job_queue_depth to the worker HPA.

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.chart_versions.aws_load_balancer_controller

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = 2
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = var.aws_load_balancer_controller_role_arn }
    }
  })]
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  namespace        = "external-secrets"
  create_namespace = true
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.chart_versions.external_secrets

  values = [yamlencode({
    installCRDs = true
    serviceAccount = {
      name        = "external-secrets"
      annotations = { "eks.amazonaws.com/role-arn" = var.external_secrets_role_arn }
    }
  })]
}

# charts/cluster-config: the store deploy/k8s's ExternalSecrets reference (ClusterSecretStore
# aws-secrets-manager; it reads with the operator's own IRSA role, which can read only this
# environment's jq entries, and serves only jq's namespace and Alertmanager's), the gp3
# StorageClass, the monitoring namespace and the ExternalSecret jq-alertmanager (the receivers'
# keys, mounted by Alertmanager).
resource "helm_release" "cluster_config" {
  name      = "jq-cluster-config"
  namespace = "external-secrets"
  chart     = "${path.module}/charts/cluster-config"

  values = [yamlencode({
    region        = var.region
    namespaces    = [var.jq_namespace, local.monitoring_namespace]
    secretsPrefix = "jq/${var.environment}"
    alertmanager  = { namespace = local.monitoring_namespace }
  })]

  depends_on = [helm_release.external_secrets]
}

locals {
  monitoring_namespace = "monitoring"
  # One source of truth for routing: the file amtool checks in make test (dashboards/rulecheck).
  alertmanager_config = yamldecode(file("${path.module}/../../../rules/alertmanager.yml"))
}

resource "helm_release" "kube_prometheus_stack" {
  name             = "kube-prometheus-stack"
  namespace        = local.monitoring_namespace
  create_namespace = false # charts/cluster-config creates it
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = var.chart_versions.kube_prometheus_stack

  values = [
    file("${path.module}/values/kube-prometheus-stack.yaml"),
    yamlencode({ alertmanager = { config = local.alertmanager_config } }),
  ]

  depends_on = [helm_release.cluster_config]
}

resource "helm_release" "prometheus_adapter" {
  name       = "prometheus-adapter"
  namespace  = local.monitoring_namespace
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-adapter"
  version    = var.chart_versions.prometheus_adapter

  values = [file("${path.module}/values/prometheus-adapter.yaml")]

  depends_on = [helm_release.kube_prometheus_stack]
}
