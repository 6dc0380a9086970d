#!/usr/bin/env bash
# slurm-test.sh: sharded embedding on a real Slurm. Starts a single-node Slurm on this machine (munged,
# slurmctld and slurmd, configured in a temporary folder), submits deploy/slurm-embed.sbatch as
# `sbatch --array=0-3` on the fake CIFAR-10 files of data/testdata with the tiny CLIP model of
# zoo/testdata and `plp merge` as a job that depends on the array, waits (bounded), and compares the merged
# store with an unsharded run byte for byte. The daemons are stopped (by the PIDs in their pid files)
# however the script ends.
#
# Needs root: Debian's slurm-wlm and munge are installed with apt-get when slurmctld is missing, and the
# daemons run as root. Anything that keeps the test from running is a failure, never a skip.
#
#   scripts/slurm-test.sh          (GO=go, TIMEOUT=300 seconds for the array to finish; PLP=binary to test
#                                   a plp already built instead of building ./cmd/plp)
set -euo pipefail

GO=${GO:-go}
TIMEOUT=${TIMEOUT:-300}
TASKS=4
repo=$(cd "$(dirname "$0")/.." && pwd)

fail() {
	echo "slurm-test: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (it installs slurm-wlm and munge and starts their daemons)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
	echo "slurm-test: installing slurm-wlm and munge"
	DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge >/dev/null; } ||
		fail "apt-get install slurm-wlm munge failed"
fi

tmp=$(mktemp -d /tmp/plp-slurm.XXXXXX)
chmod 700 "$tmp"
job= merge=
cleanup() {
	local rc=$?
	# Tasks still running would outlive slurmd (slurmstepd runs them): cancel them first.
	for j in $job $merge; do
		scancel "$j" 2>/dev/null || true
		for _ in $(seq 100); do [ -z "$(squeue -h -j "$j" -o '%i' 2>/dev/null)" ] && break; sleep 0.1; done
	done
	for pidfile in "$tmp/d.pid" "$tmp/ctld.pid" "$tmp/munged.pid"; do
		if [ -s "$pidfile" ]; then
			pid=$(cat "$pidfile")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/slurmctld.log "$tmp"/slurmd.log "$tmp"/task-*.out "$tmp"/merge.out; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
		done >&2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# A port nothing listens on, from a range Slurm's defaults (6817-6819) stay clear of.
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
	fail "no free TCP port found"
}

if [ -n "${PLP:-}" ]; then
	cp "$PLP" "$tmp/plp" || fail "cannot copy PLP=$PLP"
else
	echo "slurm-test: building plp"
	(cd "$repo" && CGO_ENABLED=0 "$GO" build -o "$tmp/plp" ./cmd/plp) || fail "go build ./cmd/plp failed"
fi

# munged with its own key, socket and pid file, so that it neither needs nor disturbs a system munged.
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool"
chmod 700 "$tmp/munge"
dd if=/dev/urandom bs=1 count=1024 of="$tmp/munge/munge.key" 2>/dev/null
chmod 400 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.socket"
munged --force --key-file="$tmp/munge/munge.key" --socket="$socket" --pid-file="$tmp/munged.pid" \
	--log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" ||
	fail "munged did not start: $(tail -n 5 "$tmp/munge/munged.log" 2>/dev/null)"
munge -S "$socket" -n | unmunge -S "$socket" >/dev/null || fail "munge cannot encode and decode a credential"

host=$(hostname -s)
cpus=$(nproc)
cat >"$tmp/slurm.conf" <<EOF
ClusterName=plptest
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/ctld.pid
SlurmdPidFile=$tmp/d.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"

echo "slurm-test: starting slurmctld and slurmd"
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for i in $(seq 60); do
	state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
	case "$state" in idle | mixed | allocated) break ;; esac
	[ "$i" = 60 ] && fail "the node is not idle after 30 s (sinfo: '${state}')"
	sleep 0.5
done

# The array runs deploy/slurm-embed.sbatch as README documents it; the task takes its index from
# SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (no --shard), and a dependent job merges.
export PLP="$tmp/plp" MODEL="$repo/zoo/testdata/openclip_vit_quickgelu.json" \
	WEIGHTS="$repo/zoo/testdata/openclip_vit_quickgelu.safetensors" DATASET=CIFAR10 \
	PLP_DATA_ROOT="$repo/data/testdata" OUT="$tmp/sharded" BATCH=8
echo "slurm-test: sbatch --array=0-$((TASKS - 1)) deploy/slurm-embed.sbatch"
job=$(sbatch --parsable --array=0-$((TASKS - 1)) --cpus-per-task=1 --mem=200M --chdir="$tmp" \
	--output="$tmp/task-%a.out" "$repo/deploy/slurm-embed.sbatch" --chunk 2) || fail "sbatch failed"
job=${job%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$job" --cpus-per-task=1 --mem=200M --chdir="$tmp" \
	--output="$tmp/merge.out" --wrap "'$PLP' merge '$OUT'") || fail "sbatch of the merge failed"
merge=${merge%%;*}

deadline=$((SECONDS + TIMEOUT))
while [ -n "$(squeue -h -j "$job,$merge" -o '%i' 2>/dev/null)" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "jobs $job and $merge did not finish within $TIMEOUT s: $(squeue -h -j "$job,$merge" 2>&1)"
	sleep 1
done

completed() {
	local info
	info=$(scontrol show job "$1" 2>&1) || fail "scontrol show job $1: $info"
	grep -q 'JobState=COMPLETED' <<<"$info" && grep -q 'ExitCode=0:0' <<<"$info" ||
		fail "$2: $(grep -oE 'JobState=[A-Z_]+|ExitCode=[0-9:]+' <<<"$info" | tr '\n' ' ')"
}
# Every task must have completed with exit code 0, and must say it took its index from Slurm.
for i in $(seq 0 $((TASKS - 1))); do
	completed "${job}_$i" "task $i"
	grep -q "shard $i/$TASKS, from the Slurm array (SLURM_ARRAY_TASK_ID=$i, SLURM_ARRAY_TASK_COUNT=$TASKS)" "$tmp/task-$i.out" ||
		fail "task $i did not log its Slurm index"
done
completed "$merge" "the merge job"
cat "$tmp/merge.out"

echo "slurm-test: unsharded run"
"$PLP" embed --model "$MODEL" --weights "$WEIGHTS" --dataset "$DATASET" --batch "$BATCH" --chunk 2 \
	--shard none --out "$tmp/whole" >/dev/null || fail "the unsharded plp embed failed"

store=CIFAR10/openclip_vit_quickgelu
for split in train test; do
	cmp "$tmp/whole/$store/$split.safetensors" "$tmp/sharded/$store/$split.safetensors" ||
		fail "$split: the merged store differs from the unsharded one"
done
echo "slurm-test: ok: $TASKS Slurm array tasks merged into stores identical to an unsharded run's"
