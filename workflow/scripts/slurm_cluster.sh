#!/usr/bin/env bash
# slurm_cluster.sh: a one-node SLURM cluster on localhost, for testing the workflow's SLURM profile.
#
# Usage (as root; Debian/Ubuntu packages munge slurmctld slurmd slurm-client installed):
#   workflow/scripts/slurm_cluster.sh start    # bring up munged, slurmctld and slurmd; waits for `idle`
#   workflow/scripts/slurm_cluster.sh status   # print daemon state and `sinfo`; exit 0 only when usable
#   workflow/scripts/slurm_cluster.sh stop     # stop the daemons this script started, remove its links
#
# Each command is idempotent: `start` on a running cluster only checks it, `stop` on a stopped one does
# nothing. Install the packages with
#   apt-get update && apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client
#
# Everything lives under $DEEPLIFT_GENOMICS_SLURM_DIR (default /tmp/deeplift-genomics-slurm): slurm.conf,
# gres.conf, state, spool, pid files and the daemons' logs (log/slurmctld.log, log/slurmd.log).
# /etc/slurm/slurm.conf and /etc/slurm/gres.conf become symlinks to that directory, because the SLURM
# executor's job step drops SLURM_CONF before its inner `srun`. An existing /etc/slurm/slurm.conf that is
# not such a link is never touched: `start` stops with a message instead.
# No systemd: the daemons are started directly and stopped by the PIDs in their pid files.
# The node offers every CPU and all but 1 GiB of memory, and one stand-in GPU (File=/dev/null) so that
# jobs asking for a GPU schedule; accounting is off, so profiles must use `slurm-status-command: squeue`.
# Exit status: 0 ok, 1 cluster not usable (status) or failed to start, 3 packages missing or not root.
set -euo pipefail

DIR="${DEEPLIFT_GENOMICS_SLURM_DIR:-/tmp/deeplift-genomics-slurm}"
ETC=/etc/slurm
WAIT_S="${DEEPLIFT_GENOMICS_SLURM_WAIT:-30}"

say() { echo "slurm_cluster: $*" >&2; }
die() { say "$1"; exit "${2:-1}"; }

pid_alive() {  # pid_alive FILE: the pid file exists and names a live process
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

require() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (munged, slurmd and /etc/slurm need it)" 3
  local cmd missing=()
  for cmd in munged munge unmunge slurmctld slurmd sinfo scontrol sbatch squeue; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client" 3
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then return 0; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge: /run/munge /var/log/munge /var/lib/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge: /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  runuser -u munge -- /usr/sbin/munged
  touch "$DIR/run/munged.ours"
  local i
  for ((i = 0; i < 50; i++)); do munge_ok && return 0; sleep 0.1; done
  die "munged did not start (see /var/log/munge/munged.log)"
}

write_config() {
  local hw cpu_line mem
  hw="$(slurmd -C | head -1)"
  # Keep the CPU topology fields of `slurmd -C`; its NodeName is the host's name, ours is localhost.
  cpu_line="$(tr ' ' '\n' <<<"$hw" | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')"
  mem="$(tr ' ' '\n' <<<"$hw" | sed -n 's/^RealMemory=//p')"
  mem=$((mem > 2048 ? mem - 1024 : mem))
  cat >"$DIR/slurm.conf.part" <<EOF
# Written by workflow/scripts/slurm_cluster.sh; a one-node test cluster on localhost.
ClusterName=localcluster
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
MinJobAge=300
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 ${cpu_line}RealMemory=$mem Gres=gpu:1
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$DIR/slurm.conf.part" "$DIR/slurm.conf"
  echo "NodeName=localhost Name=gpu File=/dev/null" >"$DIR/gres.conf"
}

link_config() {
  mkdir -p "$ETC"
  local name
  for name in slurm.conf gres.conf; do
    if [[ -e "$ETC/$name" || -L "$ETC/$name" ]]; then
      if [[ "$(readlink "$ETC/$name" || true)" != "$DIR/$name" ]]; then
        die "$ETC/$name exists and is not this script's link to $DIR/$name; move it away first"
      fi
    else
      ln -s "$DIR/$name" "$ETC/$name"
    fi
  done
}

node_state() { sinfo -h -N -n localhost -o '%t' 2>/dev/null | head -1; }

cmd_start() {
  require
  mkdir -p "$DIR"/{state,spool,run,log}
  start_munge
  if ! pid_alive "$DIR/run/slurmctld.pid"; then
    write_config
  fi
  link_config
  if ! pid_alive "$DIR/run/slurmctld.pid"; then
    slurmctld
  fi
  if ! pid_alive "$DIR/run/slurmd.pid"; then
    slurmd -N localhost
  fi
  local i state=""
  for ((i = 0; i < WAIT_S * 2; i++)); do
    state="$(node_state)"
    case "$state" in
      idle | mix | alloc) say "up: node localhost is $state (config and logs in $DIR)"; return 0 ;;
      down* | drain* | inval*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  die "node localhost is '${state:-unknown}' after ${WAIT_S}s; see $DIR/log/slurmctld.log and slurmd.log"
}

stop_pidfile() {  # stop_pidfile NAME FILE: TERM the process, wait up to 10 s, then KILL
  local name="$1" file="$2" pid i
  pid_alive "$file" || return 0
  pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || { say "stopped $name ($pid)"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  say "killed $name ($pid)"
}

cmd_stop() {
  [[ "$(id -u)" == 0 ]] || die "must run as root" 3
  stop_pidfile slurmd "$DIR/run/slurmd.pid"
  stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
  if [[ -e "$DIR/run/munged.ours" ]]; then
    stop_pidfile munged /run/munge/munged.pid
    rm -f "$DIR/run/munged.ours"
  fi
  local name
  for name in slurm.conf gres.conf; do
    if [[ -L "$ETC/$name" && "$(readlink "$ETC/$name")" == "$DIR/$name" ]]; then rm -f "$ETC/$name"; fi
  done
  say "down (logs kept in $DIR/log)"
}

cmd_status() {
  local ok=0 name
  for name in slurmctld slurmd; do
    if pid_alive "$DIR/run/$name.pid"; then
      say "$name running (pid $(cat "$DIR/run/$name.pid"))"
    else
      say "$name not running"; ok=1
    fi
  done
  if munge_ok; then say "munge ok"; else say "munge not working"; ok=1; fi
  if ((ok == 0)); then
    sinfo -N -o '%N %t %c %m %G' >&2 || ok=1
    case "$(node_state)" in idle | mix | alloc) ;; *) ok=1 ;; esac
  fi
  return "$ok"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
