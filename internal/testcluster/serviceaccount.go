package testcluster

import (
	"context"
	"fmt"
	"path/filepath"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// ServiceAccountUser is a real ServiceAccount that may do anything inside
// its namespace and nothing outside it (a Role with all verbs on all
// resources, bound in that namespace), authenticated by a bound token from
// the TokenRequest API.
type ServiceAccountUser struct {
	Namespace, Name string
	// Kubeconfig is the path of a kubeconfig file for this user whose
	// context defaults to Namespace.
	Kubeconfig string
	config     *rest.Config
}

// RESTConfig returns a new client configuration for the user.
func (u *ServiceAccountUser) RESTConfig() *rest.Config { return rest.CopyConfig(u.config) }

// NamespaceAdmin creates (or reuses) ServiceAccount name in namespace, grants
// it every right inside namespace through RBAC, and mints a token for it.
// The namespace must exist.
func (c *Cluster) NamespaceAdmin(ctx context.Context, namespace, name string) (*ServiceAccountUser, error) {
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	roleName := name + "-namespace-admin"
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: roleName, Namespace: namespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	if _, err := cs.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating role %s/%s: %w", namespace, roleName, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: roleName, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}
	if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating role binding %s/%s: %w", namespace, roleName, err)
	}
	expiry := int64(24 * 60 * 60)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for %s/%s: %w", namespace, name, err)
	}
	u := &ServiceAccountUser{
		Namespace:  namespace,
		Name:       name,
		Kubeconfig: filepath.Join(c.dir, "kubeconfig-"+namespace+"-"+name),
		config: &rest.Config{
			Host:            c.host,
			BearerToken:     tr.Status.Token,
			TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
			QPS:             500,
			Burst:           1000,
		},
	}
	user := "system:serviceaccount:" + namespace + ":" + name
	if err := writeKubeconfig(u.Kubeconfig, c.host, c.caPEM, user, tr.Status.Token, namespace); err != nil {
		return nil, err
	}
	return u, nil
}
