module github.com/virtwork/virtwork

go 1.26.0

require (
	cuelang.org/go v0.17.1 // indirect
	github.com/alecthomas/kong v1.17.0 // indirect
	github.com/blang/semver/v4 v4.0.0 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	k8s.io/api v0.37.2 // indirect
	k8s.io/apimachinery v0.37.2 // indirect
	k8s.io/cli-runtime v0.37.2 // indirect
	k8s.io/client-go v0.37.2 // indirect
	k8s.io/kubectl v0.37.2 // indirect
	kubevirt.io/api v1.8.0 // indirect
	kubevirt.io/containerized-data-importer-api v1.64.0 // indirect
	sigs.k8s.io/cli-utils v0.37.2 // indirect
	sigs.k8s.io/kustomize/api v0.21.2 // indirect
)
