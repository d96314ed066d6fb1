#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, for the SLURM executor's tests.
#
# Idempotent: installs slurm-wlm and munge only when missing, writes the config only
# when it changed, starts only the daemons that are not running, and resumes a node
# left DOWN/DRAIN by an earlier run. Needs root (apt-get, daemons as SlurmUser=root).
# Exits 0 once `sinfo` shows the node idle and a trivial `sbatch --wait` succeeds;
# non-zero with a clear message otherwise (bounded by POLYGLOT_SLURM_WAIT_S, 60 s).
#
# Usage: bash tests/cluster/slurm_up.sh   (CI runs it before the tests, as root)
set -euo pipefail

BASE="${POLYGLOT_SLURM_DIR:-/var/tmp/polyglot-slurm}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"  # where Debian's slurm reads its config
WAIT_S="${POLYGLOT_SLURM_WAIT_S:-60}"
MARK="# polyglot-harness test cluster (tests/cluster/slurm_up.sh)"

die() { echo "slurm_up: $*" >&2; exit 1; }
say() { echo "slurm_up: $*"; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts slurmctld/slurmd as root)"

# 1. Packages, only if missing.
if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null \
  || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "sbatch/slurmctld missing and no apt-get to install them"
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# 2. Munge key and runtime dirs (no systemd: create what its tmpfiles would).
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  say "creating a munge key"
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

# 3. slurm.conf for this host: real CPU count, memory a bit below the machine's.
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
REAL_MB=$(( MEM_MB * 9 / 10 ))
mkdir -p "$BASE"/{state,spool,log,run} "$(dirname "$CONF")"
NEW_CONF="$(cat <<EOF
$MARK
ClusterName=polyglot
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
# A job whose afterok dependency failed is cancelled, not left pending forever.
DependencyParameters=kill_invalid_depend
# Fast turnaround for tests: schedule at once on submit and on job end.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,sched_min_interval=0,batch_sched_delay=0,bf_interval=1
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)"
CHANGED=0
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF" && [ "${POLYGLOT_SLURM_FORCE:-0}" != 1 ]; then
  die "$CONF exists and was not written by this script; set POLYGLOT_SLURM_FORCE=1 to replace it"
fi
if [ "$(cat "$CONF" 2>/dev/null || true)" != "$NEW_CONF" ]; then
  say "writing $CONF"
  printf '%s\n' "$NEW_CONF" >"$CONF"
  CHANGED=1
fi

# 4. Daemons, only those not running (a changed config restarts slurm's).
running() { pgrep -x "$1" >/dev/null; }
stop() {  # by the pid file the daemon wrote, never by name
  local pidfile="$BASE/run/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid; pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
if [ "$CHANGED" = 1 ]; then stop slurmd; stop slurmctld; fi
if ! running munged; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munge does not work (see /var/log/munge)"
if ! running slurmctld; then
  say "starting slurmctld"
  slurmctld || die "slurmctld did not start; see $BASE/log/slurmctld.log"
fi
if ! running slurmd; then
  say "starting slurmd"
  slurmd || die "slurmd did not start; see $BASE/log/slurmd.log"
fi
if [ "$CHANGED" = 1 ] && ! grep -q . "$BASE/run/slurmctld.pid" 2>/dev/null; then
  scontrol reconfigure || true  # daemons we did not start (no pid file): reload
fi

# 5. Wait for the node to be idle (resuming a stale DOWN/DRAIN), then run one job.
deadline=$(( SECONDS + WAIT_S ))
state=""
while (( SECONDS < deadline )); do
  state="$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)"
  case "$state" in
    idle|mixed|allocated) break ;;
    down*|drain*|drained*|fail*)
      scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
case "$state" in
  idle|mixed|allocated) ;;
  *) die "node $HOST not idle after ${WAIT_S}s (state: '${state:-no answer}'); see $BASE/log" ;;
esac
left=$(( deadline - SECONDS )); (( left > 5 )) || left=5
timeout "$left" sbatch --wait -Q -o /dev/null -t 1 --wrap true \
  || die "a trivial sbatch --wait failed or timed out; see $BASE/log"
say "cluster up: node $HOST ($CPUS CPUs, ${REAL_MB} MB), partition debug"
