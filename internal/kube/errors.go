package kube

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// UnreachableError says the API server could not be reached at all.
type UnreachableError struct {
	Host  string
	Cause string
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Kubernetes API server at %s: %s (is the cluster running? check --kubeconfig and --context)", e.Host, e.Cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Explain rewords errors users commonly hit into one line that says what to
// do; other errors are returned unchanged. host is the API server's URL.
func Explain(err error, host string) error {
	if err == nil {
		return nil
	}
	var unreachable *UnreachableError
	if errors.As(err, &unreachable) {
		return err
	}
	if cause, ok := unreachableCause(err); ok {
		return &UnreachableError{Host: host, Cause: cause, Err: err}
	}
	var noMatch *meta.NoKindMatchError
	if errors.As(err, &noMatch) {
		return fmt.Errorf("%s: %w", NotInstalled(noMatch.GroupKind), err)
	}
	if meta.IsNoMatchError(err) {
		return err
	}
	switch {
	case IsPermissionDenied(err):
		return fmt.Errorf("permission denied: %s (ask a cluster admin for a Role in that namespace that grants it)", apiMessage(err))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server at %s rejected the credentials: %s (check --kubeconfig and --context; the token may have expired)", host, apiMessage(err))
	}
	return err
}

// IsPermissionDenied reports an RBAC denial. Other 403 answers (an exceeded
// ResourceQuota, a denying admission webhook) are about the object, not the
// user's rights.
func IsPermissionDenied(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(apiMessage(err), " cannot ")
}

// NotInstalled says which add-on provides a missing kind.
func NotInstalled(gk schema.GroupKind) string {
	switch gk.Group {
	case "kubevirt.io":
		return "KubeVirt is not installed (no " + plural(gk) + ")"
	case "cdi.kubevirt.io":
		return "CDI (the Containerized Data Importer) is not installed (no " + plural(gk) + ")"
	}
	return "the cluster has no resource type " + gk.String()
}

func plural(gk schema.GroupKind) string {
	return strings.ToLower(gk.Kind) + "s." + gk.Group
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// unreachableCause names why a server cannot be reached, if that is the
// trouble.
func unreachableCause(err error) (string, bool) {
	var dnsErr *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var gaveUp *GaveUpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host", true
	case errors.As(err, &dnsErr):
		return "unknown host " + dnsErr.Name, true
	case errors.As(err, &unknownAuthority):
		return "its certificate is signed by an unknown authority", true
	case errors.As(err, &hostname):
		return "its certificate is not valid for that host name", true
	case errors.As(err, &gaveUp):
		return gaveUp.Last + fmt.Sprintf(" (after %d attempts)", gaveUp.Attempts), true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timed out", true
	}
	return "", false
}
