#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` (syntax, directives, that the binaries
# named by ExecStart exist: stand-ins are put in a private root when they are missing) and
# `systemd-analyze security` (exposure score) when systemd can run them here.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze is missing (Debian: apt-get install systemd)" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system"
for bin in rfd-api rfd-processor; do
    printf '#!/bin/sh\nexit 0\n' > "$root/usr/local/bin/$bin"
    chmod +x "$root/usr/local/bin/$bin"
done
cp rfd-api.service rfd-processor.service "$root/etc/systemd/system/"
# The targets our units order against come from the host's systemd.
mkdir -p "$root/usr/lib/systemd"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
# --root: look up ExecStart binaries in the private root; --man=no: no man pages here.
out=$(systemd-analyze verify --man=no --root="$root" \
    "$root/etc/systemd/system/rfd-api.service" "$root/etc/systemd/system/rfd-processor.service" 2>&1) || {
    echo "$out" >&2
    exit 1
}
# Warnings about the host (no D-Bus, not booted with systemd) are not about our units.
if echo "$out" | grep -E "rfd-(api|processor)\.service" | grep -v "Failed to .*bus" >&2; then
    echo "systemd-analyze verify reported problems in the units" >&2
    exit 1
fi
echo "systemd units verified"
