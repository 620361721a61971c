#!/usr/bin/env bash
# Stops the test cluster of start-test-cluster.sh: its jobs, slurmd, slurmctld and munged (by their pid files).
set -uo pipefail
STATE=${AUTOML_SLURM_DIR:-/var/spool/automl-slurm}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
command -v scancel >/dev/null && $SUDO scancel --full --partition=debug 2>/dev/null
for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
  [ -s "$f" ] && $SUDO kill "$(cat "$f")" 2>/dev/null
done
for _ in $(seq 1 20); do
  pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
  sleep 0.5
done
echo "== Slurm test cluster stopped"
