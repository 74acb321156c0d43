package k8s

import (
	"fmt"
	"os"
	"regexp"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// vpcVariables declares the VPC's CIDR, which the NetworkPolicies' ipBlocks must match.
const vpcVariables = "../../terraform/modules/vpc/variables.tf"

var vpcCIDRDefault = regexp.MustCompile(`(?s)variable\s+"vpc_cidr"\s*\{[^}]*?default\s*=\s*"([^"]+)"`)

// terraformVPCCIDR reads the default VPC CIDR from the Terraform vpc module.
func terraformVPCCIDR() (string, error) {
	data, err := os.ReadFile(vpcVariables)
	if err != nil {
		return "", fmt.Errorf("read the VPC CIDR: %w", err)
	}
	m := vpcCIDRDefault.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s declares no vpc_cidr default", vpcVariables)
	}
	return string(m[1]), nil
}

// The ports jq-server may reach in the VPC: PostgreSQL, Redis (TLS) and Kafka (SASL/SCRAM).
var serverEgressPorts = []int32{5432, 6379, 9096}

// checkNetworkPolicies holds the policies to the issue: everything is denied by default, the
// workers reach only the server (and DNS), the server reaches only PostgreSQL, Redis, Kafka
// (in the VPC) and DNS, and every egress rule names its ports.
func checkNetworkPolicies(objs []object, vpcCIDR string) []string {
	policies := byKind[*networkingv1.NetworkPolicy](objs)
	var problems []string

	var defaultDeny bool
	for _, p := range policies {
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			defaultDeny = true
		}
	}
	if !defaultDeny {
		problems = append(problems, "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
	}

	server := podLabels(objs, "jq-server")
	for _, d := range byKind[*appsv1.Deployment](objs) {
		pod := labels.Set(d.Spec.Template.Labels)
		var egress []networkingv1.NetworkPolicyEgressRule
		for _, p := range policies {
			if selects(p.Spec.PodSelector, pod) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				egress = append(egress, p.Spec.Egress...)
			}
		}
		var reached []int32
		for _, r := range egress {
			if len(r.To) == 0 || len(r.Ports) == 0 {
				problems = append(problems, fmt.Sprintf("%s: an egress rule without peers or ports allows too much", d.Name))
				continue
			}
			for _, peer := range r.To {
				switch {
				case isDNS(peer):
					if !onlyPort(r.Ports, 53) {
						problems = append(problems, fmt.Sprintf("%s: the DNS egress rule opens more than port 53", d.Name))
					}
				case d.Name == "jq-worker" && peer.PodSelector != nil && peer.NamespaceSelector == nil && peer.IPBlock == nil && selects(*peer.PodSelector, server):
					if !onlyPort(r.Ports, 50051) {
						problems = append(problems, "jq-worker: may reach the server on more than its gRPC port")
					}
				case exporters[d.Name].Image != "" && peer.IPBlock != nil && peer.IPBlock.CIDR == vpcCIDR:
					for _, p := range r.Ports {
						if p.Port == nil || !slices.Contains(exporters[d.Name].EgressPorts, p.Port.IntVal) || p.EndPort != nil {
							problems = append(problems, fmt.Sprintf("%s: egress to port %v in the VPC; want only %v", d.Name, p.Port, exporters[d.Name].EgressPorts))
						}
					}
				case d.Name == "jq-server" && peer.IPBlock != nil && peer.IPBlock.CIDR == vpcCIDR:
					for _, p := range r.Ports {
						if p.Port == nil || !slices.Contains(serverEgressPorts, p.Port.IntVal) {
							problems = append(problems, fmt.Sprintf("jq-server: egress to port %v in the VPC; want only %v", p.Port, serverEgressPorts))
							continue
						}
						reached = append(reached, p.Port.IntVal)
					}
				default:
					problems = append(problems, fmt.Sprintf("%s: egress to %s is not allowed by the issue", d.Name, describePeer(peer)))
				}
			}
		}
		if d.Name == "jq-server" {
			for _, p := range serverEgressPorts {
				if !slices.Contains(reached, p) {
					problems = append(problems, fmt.Sprintf("jq-server: cannot reach port %d in the VPC (%s)", p, vpcCIDR))
				}
			}
		}
	}
	return problems
}

func podLabels(objs []object, deployment string) labels.Set {
	for _, d := range byKind[*appsv1.Deployment](objs) {
		if d.Name == deployment {
			return d.Spec.Template.Labels
		}
	}
	return nil
}

func selects(sel metav1.LabelSelector, pod labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	return err == nil && s.Matches(pod)
}

func isDNS(p networkingv1.NetworkPolicyPeer) bool {
	return p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels[corev1.LabelMetadataName] == "kube-system" &&
		p.PodSelector != nil && p.PodSelector.MatchLabels["k8s-app"] == "kube-dns" && p.IPBlock == nil
}

func onlyPort(ports []networkingv1.NetworkPolicyPort, want int32) bool {
	for _, p := range ports {
		if p.Port == nil || p.Port.IntVal != want || p.EndPort != nil {
			return false
		}
	}
	return true
}

func describePeer(p networkingv1.NetworkPolicyPeer) string {
	switch {
	case p.IPBlock != nil:
		return "ipBlock " + p.IPBlock.CIDR
	case p.NamespaceSelector != nil:
		return "namespaces " + metav1.FormatLabelSelector(p.NamespaceSelector)
	case p.PodSelector != nil:
		return "pods " + metav1.FormatLabelSelector(p.PodSelector)
	}
	return "anywhere"
}
