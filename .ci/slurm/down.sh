#!/usr/bin/env bash
# Stop the one-node CI Slurm cluster started by .ci/slurm/up.sh and remove its directory.
# Safe to run when nothing is running. --keep-dir stops the daemons but keeps $SKYTEXT_SLURM_DIR.
# munged is stopped through its pid file (/run/munge/munged.pid); --keep-munge leaves it running.
set -uo pipefail

DIR="${SKYTEXT_SLURM_DIR:-/tmp/skytext-slurm}"
keep_dir=0
keep_munge=0
for arg in "$@"; do
    case "$arg" in
        --keep-dir) keep_dir=1 ;;
        --keep-munge) keep_munge=1 ;;
        *) echo "slurm-down: error: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done
export SLURM_CONF="$DIR/slurm.conf"

log() { echo "slurm-down: $*" >&2; }

# Stop the process named in a pid file (TERM, then KILL after ~10 s). Only that pid, never by name.
stop_pidfile() {
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

if [[ -f $SLURM_CONF ]] && [[ -s $DIR/slurmctld.pid ]] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    # Cancel what is still queued or running so slurmd leaves no job processes behind.
    timeout 10 scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
fi
stop_pidfile slurmd "$DIR/slurmd.pid"
stop_pidfile slurmctld "$DIR/slurmctld.pid"
if [[ $keep_munge -eq 0 ]]; then
    stop_pidfile munged /run/munge/munged.pid
fi

if [[ $keep_dir -eq 0 && -L /etc/slurm/slurm.conf ]] && [[ "$(readlink /etc/slurm/slurm.conf)" == "$SLURM_CONF" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
if [[ $keep_dir -eq 0 && -d $DIR ]]; then
    rm -rf -- "$DIR"
    log "removed $DIR"
fi
log "down"
