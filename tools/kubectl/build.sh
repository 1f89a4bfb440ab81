#!/usr/bin/env bash
# Builds and caches kubectl; see ../build.sh. Prints the path of the binary.
exec "$(dirname "$0")/../build.sh" kubectl
