// Temporary: pins the module graph while packages are being written in parallel.
// Remove once every dependency is imported by real code (then go mod tidy).
package internal

import (
	_ "cuelang.org/go/cue/cuecontext"
	_ "cuelang.org/go/cue/load"
	_ "github.com/GehirnInc/crypt/sha512_crypt"
	_ "github.com/alecthomas/kong"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/cli-runtime/pkg/genericclioptions"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kube-openapi/pkg/validation/validate"
	_ "k8s.io/kubectl/pkg/cmd/util"
	_ "kubevirt.io/api/core/v1"
	_ "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	_ "sigs.k8s.io/cli-utils/pkg/apply"
	_ "sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/yaml"
)
