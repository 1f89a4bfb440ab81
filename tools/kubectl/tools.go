//go:build tools

// Package tools pins k8s.io/kubernetes/cmd/kubectl in this module.
package tools

import _ "k8s.io/kubernetes/cmd/kubectl"
