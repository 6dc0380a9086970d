#!/usr/bin/env bash
# Runs the kernel, tensor and model tests built for linux/arm64: natively on an arm64 host, elsewhere under
# qemu-user (qemu-aarch64). scripts/arm64-test.sh [PACKAGE...]; the default list is below.
#
# A missing emulator is a failure, not a skip: the script installs Debian's qemu-user and the arm64 C
# library (the binaries that can load CUDA at run time are dynamically linked) with apt-get when it runs as
# root, and otherwise stops with the command to run. Each test binary runs from its package directory, as
# `go test` runs it, so testdata/ is found.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./kernels/cpu ./tensor ./layers ./vit ./convnext ./resnet ./textenc ./zoo)
fi
sysroot=/usr/aarch64-linux-gnu

run=()
if [ "$("$go" env GOHOSTARCH)" != arm64 ]; then
  find_qemu() { command -v qemu-aarch64 || command -v qemu-aarch64-static || true; }
  qemu=$(find_qemu)
  if [ -z "$qemu" ] || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
      echo "arm64-test: qemu-aarch64 or the arm64 C library is missing;" \
        "install them with: apt-get install qemu-user libc6-arm64-cross" >&2
      exit 1
    fi
    echo "arm64-test: installing qemu-user and libc6-arm64-cross"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-user libc6-arm64-cross >/dev/null
    qemu=$(find_qemu)
  fi
  if [ -z "$qemu" ]; then
    echo "arm64-test: qemu-aarch64 still missing after installing qemu-user" >&2
    exit 1
  fi
  run=("$qemu" -L "$sysroot")
  echo "arm64-test: $("$qemu" --version | head -1)"
fi

# vet checks the arm64 assembly against its Go declarations (argument frames, sizes), which the host's
# `go vet` does not see.
GOOS=linux GOARCH=arm64 "$go" vet "${pkgs[@]}"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
failed=()
for pkg in "${pkgs[@]}"; do
  exe="$bin/$(echo "${pkg#./}" | tr / _).test"
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 "$go" test -c -o "$exe" "$pkg"
  [ -e "$exe" ] || continue # no test files
  start=$SECONDS
  if (cd "$pkg" && "${run[@]}" "$exe" -test.timeout 20m); then
    echo "ok  	$pkg (linux/arm64)	$((SECONDS - start))s"
  else
    echo "FAIL	$pkg (linux/arm64)"
    failed+=("$pkg")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "arm64-test: failed: ${failed[*]}" >&2
  exit 1
fi
