package results

import rbacv1 "k8s.io/api/rbac/v1"

// Rules are the rights 'virtwork results' needs in the instance's
// namespace: in both modes the inventory (get configmaps) and the VMs
// (list virtualmachines); reading directly also the VMIs, their launcher
// pods and the pod proxy. TestDirect reads as a user with exactly these.
func Rules(direct bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}},
		{APIGroups: []string{virtualMachines.Group}, Resources: []string{virtualMachines.Resource}, Verbs: []string{"list"}},
	}
	if direct {
		rules = append(rules,
			rbacv1.PolicyRule{APIGroups: []string{vmis.Group}, Resources: []string{vmis.Resource}, Verbs: []string{"list"}},
			rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
			rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}},
		)
	}
	return rules
}
