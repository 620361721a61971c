#!/usr/bin/env bash
# A one-node Slurm test cluster on this machine (for `npm run test:slurm` and `npm run bench -- --parts slurm`):
# installs munge and Slurm with apt when missing, writes a minimal slurm.conf (this host, 2 CPUs, partition
# `debug`, consumable CPUs so that two 1-CPU jobs run at once, no cgroups: it runs in containers), creates a
# munge key, starts munged, slurmctld and slurmd directly (no systemd) and waits until the node is idle.
# Run as root. Idempotent: a cluster already up is left as it is. Stop it with stop-test-cluster.sh.
set -euo pipefail

STATE=${AUTOML_SLURM_DIR:-/var/spool/automl-slurm}
CPUS=${AUTOML_SLURM_CPUS:-2}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
for p in munge slurm-wlm slurmctld slurmd slurm-client; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== apt-get install ${need[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi

if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  echo "== Slurm test cluster already up: $(sinfo -h -o '%P %D %T %C')"
  exit 0
fi

HOST=$(hostname -s)
MEM=$(free -m | awk '/^Mem:/ { print int($2 * 0.9) }')
$SUDO mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/log" /etc/slurm /etc/munge /run/munge /var/lib/munge /var/log/munge
CONF=/etc/slurm/slurm.conf
$SUDO tee "$CONF" >/dev/null <<CONF
# Written by scripts/slurm/start-test-cluster.sh (AutoML for VS Code's test cluster).
ClusterName=automltest
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Finished jobs stay known to scontrol for an hour (there is no accounting database here).
MinJobAge=3600
KillWait=10
SchedulerParameters=sched_interval=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key, then the daemon (running as root: --force accepts root-owned paths).
if [ ! -s /etc/munge/munge.key ]; then
  $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$SUDO chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  $SUDO chown -R root:root /etc/munge /run/munge /var/lib/munge /var/log/munge
  $SUDO munged --force
fi

pgrep -x slurmctld >/dev/null || $SUDO slurmctld
pgrep -x slurmd >/dev/null || $SUDO slurmd

for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null || true)
  case "$state" in
    idle*|mixed*|allocated*) echo "== Slurm test cluster up: $(sinfo -h -o '%P %D %T %C')"; exit 0 ;;
    down*|drain*) $SUDO scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 1
done
echo "The Slurm test cluster did not come up; logs in $STATE/log:" >&2
tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
exit 1
