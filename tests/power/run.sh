#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh POWERSIM FSCK: the power-loss simulator's default run (see
# powersim.c): seeded random workloads, then every ACE sequence of up to
# MAPFS_POWER_ACE (default 2) operations. More: MAPFS_POWER_SCENARIOS,
# MAPFS_POWER_OPS, MAPFS_POWER_SEED, MAPFS_POWER_ACE=3. Then images
# grown while in use (MAPFS_POWER_GROW scenarios, default 8).
set -u
SIM=$1 FSCK=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-power.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM
rc=0
"$SIM" "$FSCK" "$T" random "${MAPFS_POWER_SEED:-1}" \
	"${MAPFS_POWER_SCENARIOS:-24}" "${MAPFS_POWER_OPS:-150}" || rc=1
"$SIM" "$FSCK" "$T" ace "${MAPFS_POWER_ACE:-2}" || rc=1
"$SIM" "$FSCK" "$T" grow "${MAPFS_POWER_SEED:-1}" \
	"${MAPFS_POWER_GROW:-8}" 60 || rc=1
exit $rc
