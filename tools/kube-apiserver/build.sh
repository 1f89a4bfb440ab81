#!/usr/bin/env bash
# Builds and caches kube-apiserver; see ../build.sh. Prints the path of the binary.
exec "$(dirname "$0")/../build.sh" kube-apiserver
