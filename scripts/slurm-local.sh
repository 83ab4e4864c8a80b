#!/usr/bin/env bash
# A single-node Slurm on this machine, for trying and testing `lorabook plan --slurm`: starts munged
# (with a key in /etc/munge), slurmctld and slurmd, from Debian's slurm-wlm and munge packages (setup
# installs them), without systemd. Needs root. Idempotent: when the node already answers, it only
# says so. `scripts/slurm-local.sh stop` stops the three daemons.
#
# The configuration (/etc/slurm/slurm.conf, written only when absent or written by this script):
# this host as controller and only node, CPUs=$(nproc), one partition `lorabook`, no accounting,
# proctrack/pgid and task/none (no cgroups needed), select/cons_tres with CR_CPU.
# Exit status: 0 the node is up; 2 this machine cannot run it (the message says why).
set -euo pipefail

log() { printf 'slurm-local: %s\n' "$*" >&2; }

# Starts a daemon with nothing of this script's caller: stdin, stdout and stderr on /dev/null and
# every other inherited descriptor closed. A daemon that kept one would keep, for as long as it
# runs, a pipe the caller reads to its end, or the socket by which Foundation's Process learns
# that its child ended: the caller would wait forever (this hung CI once).
daemon() {
  (
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) </dev/null >/dev/null 2>&1
}
cannot() { log "cannot start Slurm here: $*"; exit 2; }

conf=/etc/slurm/slurm.conf
marker="# written by lorabook scripts/slurm-local.sh"

if [ "${1:-}" = "stop" ]; then
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  log "stopped"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || cannot "it needs root (the daemons run as root here); run it with sudo"
for b in munged slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || cannot "$b is not installed (scripts/setup.sh installs slurm-wlm and munge)"
done
export PATH="$PATH:/usr/sbin"

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)"

# 1. munge: a key, and the daemon
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key --force
  else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; fi
fi
if id munge >/dev/null 2>&1; then
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
fi
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  if id munge >/dev/null 2>&1; then
    daemon runuser -u munge -- munged || daemon munged --force
  else
    daemon munged --force
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || cannot "munged did not start"
fi

# 2. the configuration
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  cannot "$conf exists and was not written by this script (a real cluster's configuration is never overwritten)"
fi
cat > "$conf.tmp" <<CONF
$marker
ClusterName=lorabook
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MaxArraySize=100001
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=lorabook Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$conf.tmp" "$conf" 2>/dev/null; then
  mv "$conf.tmp" "$conf"
  # a changed configuration: restart whatever runs
  pkill -x slurmd 2>/dev/null || true; pkill -x slurmctld 2>/dev/null || true; sleep 0.5
else
  rm -f "$conf.tmp"
fi

# 3. the daemons
if ! pgrep -x slurmctld >/dev/null; then log "starting slurmctld"; daemon slurmctld -c -i || cannot "slurmctld did not start (see /var/log/slurm/slurmctld.log)"; fi
if ! pgrep -x slurmd >/dev/null; then log "starting slurmd"; daemon slurmd -c || cannot "slurmd did not start (see /var/log/slurm/slurmd.log)"; fi
for _ in $(seq 100); do
  state="$(sinfo -h -n "$host" -o '%T' 2>/dev/null | head -n 1 || true)"
  case "$state" in idle*|mixed*|allocated*) log "node $host is $state ($cpus CPUs, partition lorabook)"; exit 0 ;; esac
  sleep 0.2
done
cannot "the node did not come up (state '${state:-none}'; see /var/log/slurm/)"
