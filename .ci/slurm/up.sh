#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine (for CI): munged + slurmctld + slurmd on 127.0.0.1.
#
#   .ci/slurm/up.sh            # idempotent; prints the SLURM_CONF line to export
#   export SLURM_CONF=/tmp/skytext-slurm/slurm.conf
#
# Everything Slurm writes (config, state, spool, daemon logs, pid files) lives in $SKYTEXT_SLURM_DIR
# (default /tmp/skytext-slurm), plus a symlink /etc/slurm/slurm.conf -> that slurm.conf (created only where no
# slurm.conf exists); .ci/slurm/down.sh stops the daemons and removes both.
# Munge uses the distribution's paths (/etc/munge/munge.key, /run/munge) because libslurm talks to the
# default munge socket.
#
# The node advertises $SKYTEXT_SLURM_FAKE_GPUS (default 1) GPUs as a count-only GRES (no device file), so a
# job submitted with --gpus=1 is scheduled and runs on a machine with no GPU (placeholder device files under
# $SKYTEXT_SLURM_DIR/dev); CUDA stays unavailable inside the job and our code falls back to the CPU. Partitions: "main" (default) and "gpu", the names
# profiles/slurm/config.yaml uses.
#
# Needs root (apt-get, daemons). Time-boxed by $SKYTEXT_SLURM_UP_TIMEOUT seconds (default 90) once the
# packages are installed.
set -euo pipefail

DIR="${SKYTEXT_SLURM_DIR:-/tmp/skytext-slurm}"
CONF="$DIR/slurm.conf"
FAKE_GPUS="${SKYTEXT_SLURM_FAKE_GPUS:-1}"
TIMEOUT="${SKYTEXT_SLURM_UP_TIMEOUT:-90}"
export SLURM_CONF="$CONF"

log() { echo "slurm-up: $*" >&2; }
die() { echo "slurm-up: error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (installs packages and starts daemons)"

# --- 1. packages ------------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    log "installing slurm-wlm + munge"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >/dev/null
    timeout 600 apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
        || die "apt-get install slurmctld slurmd slurm-client munge failed"
fi

# --- 2. munge ---------------------------------------------------------------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
    install -d -o munge -g munge -m 0711 /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating munge key"
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 20); do munge_ok && break; sleep 0.5; done
    munge_ok || die "munged did not start (see /var/log/munge/munged.log)"
fi

# --- 3. slurm.conf ----------------------------------------------------------------------------------------
NODE="$(hostname -s)"
mkdir -p "$DIR"/{state,spool,log}
# Hardware as slurmd sees it: "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ...".
HW="$(slurmd -C | head -n1)"
cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")"
real_mb="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")"
[[ -n $cpus && -n $real_mb ]] || die "cannot read CPUs/RealMemory from 'slurmd -C': $HW"
# Leave 5 % of the memory to the OS so the node is never drained for "Low RealMemory".
mem_mb=$((real_mb * 95 / 100))
topology="$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<<"$HW" || true)"
gres_node=""
gres_types=""
if [[ $FAKE_GPUS -gt 0 ]]; then
    gres_node="Gres=gpu:$FAKE_GPUS"
    gres_types="GresTypes=gpu"
fi

new_conf="$(cat <<EOF
# Written by .ci/slurm/up.sh: one-node CI cluster on 127.0.0.1. Do not edit; rerun up.sh.
ClusterName=skytextci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
# Finished jobs stay visible to squeue for 10 min: the Snakemake slurm plugin polls with squeue here
# (no accounting database for sacct), and it needs MinJobAge >= 3 x its first status-check delay.
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus $topology RealMemory=$mem_mb $gres_node State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
)"
# Slurm drops a file-less GPU GRES, so each fake GPU gets an empty placeholder file (task/none: no device
# cgroup, nothing opens it). Inside a job Slurm sets CUDA_VISIBLE_DEVICES to the allocated index as usual.
new_gres=""
if [[ $FAKE_GPUS -gt 0 ]]; then
    mkdir -p "$DIR/dev"
    for ((i = 0; i < FAKE_GPUS; i++)); do : >"$DIR/dev/fakegpu$i"; done
    new_gres="NodeName=$NODE Name=gpu File=$DIR/dev/fakegpu[0-$((FAKE_GPUS - 1))]"
fi

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
changed=0
if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$new_conf" ]]; then changed=1; fi
if [[ ! -f $DIR/gres.conf ]] || [[ "$(cat "$DIR/gres.conf")" != "$new_gres" ]]; then changed=1; fi
if [[ $changed -eq 1 ]]; then
    if alive "$DIR/slurmctld.pid" || alive "$DIR/slurmd.pid"; then
        log "configuration changed: restarting the daemons"
        "$(dirname "$0")/down.sh" --keep-dir --keep-munge
    fi
    printf '%s\n' "$new_conf" >"$CONF"
    printf '%s\n' "$new_gres" >"$DIR/gres.conf"   # slurm reads gres.conf next to slurm.conf
    # Daemons and jobs run as root; a world-readable config lets any user run sinfo/squeue.
    chmod 0644 "$CONF" "$DIR/gres.conf"
fi

# The Snakemake job step inside each Slurm job drops SLURM_* variables (SLURM_CONF included) before its
# nested srun, which then only finds the default path; point that path at our file (never over a real one).
SYS_CONF=/etc/slurm/slurm.conf
if [[ -L $SYS_CONF ]] && [[ "$(readlink "$SYS_CONF")" == "$CONF" ]]; then
    :
elif [[ -e $SYS_CONF || -L $SYS_CONF ]]; then
    die "$SYS_CONF exists and is not ours; refusing to overwrite it (is this a real Slurm host?)"
else
    mkdir -p /etc/slurm
    ln -s "$CONF" "$SYS_CONF"
fi

# --- 4. daemons -------------------------------------------------------------------------------------------
if ! alive "$DIR/slurmctld.pid"; then
    log "starting slurmctld"
    slurmctld -f "$CONF"
fi
if ! alive "$DIR/slurmd.pid"; then
    log "starting slurmd (node $NODE)"
    slurmd -f "$CONF" -N "$NODE"
fi

# --- 5. wait until the node is idle -----------------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
state=""
while ((SECONDS < deadline)); do
    state="$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle | mixed | allocated) break ;;
        inval* | fail*) break ;;   # configuration rejected: report at once
        down* | drain* | drained*)
            # e.g. after an unclean stop; ReturnToService=2 usually clears this on its own.
            scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
case "$state" in
    idle | mixed | allocated) ;;
    *)
        tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null || true
        die "node $NODE not idle after ${TIMEOUT}s (state: '${state:-no answer}'); logs in $DIR/log" ;;
esac

log "cluster up: node $NODE ($cpus CPUs, $mem_mb MB, $FAKE_GPUS fake GPU), partitions main (default), gpu"
echo "export SLURM_CONF=$CONF"
