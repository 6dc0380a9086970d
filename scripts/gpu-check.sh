#!/usr/bin/env bash
# gpu-check.sh: the GPU acceptance run of plp's CUDA backend, for a machine with the NVIDIA driver, the CUDA
# runtime libraries (cuBLAS) and python3 with torch + timm, but no Go. Build the binaries first, elsewhere:
#   make gpu-build        # CGO_ENABLED=0: .gpu/plp and the test binaries .gpu/{tensor,cuda,plp}.test
# then, from the repository root on the GPU machine:
#   scripts/gpu-check.sh  # writes $OUT (default .gpu/out): summary.txt, results.jsonl, steps.log, logs.tar.gz
# Steps: nvidia-smi; the CUDA tests of kernels/cuda and tensor (conformance table on the GPU); the attention
# kernel's TFLOP/s at N=257, hd=64; `plp parity --device cuda` on every fixture; `plp bench` for ViT-B/16 and
# ViT-L/14 at batch 64 and 256 in fp32, tf32 and bf16; PyTorch eager fp32/bf16 (SDPA) on the same GPU.
# Each step is limited to STEP_TIMEOUT seconds (300). Exit status: 0 when every step passed, 1 when a step failed, 2 when there is no GPU to check.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/.gpu/out}
mkdir -p "$OUT"
MODELS=${MODELS:-"openclip_ViT-B-16/openai openclip_ViT-L-14/openai"}
BATCHES=${BATCHES:-"64 256"}
DTYPES=${DTYPES:-"fp32 tf32 bf16"}
ITERS=${ITERS:-3}
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
# The device runner returns at most 8 files from $OUT: the logs go into one archive at the end, next to
# results.jsonl, steps.log and summary.txt.
LOG=$OUT/logs
mkdir -p "$LOG"

have_gpu() {
	command -v nvidia-smi >/dev/null 2>&1 || { echo "nvidia-smi not found"; return 1; }
	nvidia-smi -L >/dev/null 2>&1 || { echo "nvidia-smi lists no GPU"; return 1; }
	ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' || [ -e /usr/lib/x86_64-linux-gnu/libcuda.so.1 ] ||
		[ -e /usr/lib64/libcuda.so.1 ] || { echo "libcuda.so.1 not found"; return 1; }
}
if ! why=$(have_gpu); then
	echo "gpu-check: no NVIDIA GPU here ($why); nothing to check. Run this script on a GPU machine." >&2
	exit 2
fi
for b in plp tensor.test cuda.test plp.test; do
	if [ ! -x ".gpu/$b" ]; then
		echo "gpu-check: .gpu/$b missing: run 'make gpu-build' on a machine with Go and carry .gpu here" >&2
		exit 2
	fi
done

failed=()
step() { # step NAME LOGFILE CMD...: runs CMD, logs it, records a failure
	local name=$1 log=$2
	shift 2
	echo "== $name" | tee -a "$OUT/steps.log"
	local t0=$SECONDS
	timeout "${STEP_TIMEOUT:-300}" "$@" >"$log" 2>&1
	local rc=$?
	echo "   rc=$rc in $((SECONDS - t0))s, log $(basename "$log")" | tee -a "$OUT/steps.log"
	if [ $rc -ne 0 ]; then
		failed+=("$name")
		tail -n 30 "$log"
	fi
	return $rc
}

nvidia-smi | tee "$LOG/nvidia-smi.txt"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
echo "{\"side\": \"plp\", \"gpu\": \"${gpu_name:-unknown}\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\"}" >>"$RESULTS"

step "kernels/cuda tests" "$LOG/test-cuda.log" bash -c "cd kernels/cuda && ../../.gpu/cuda.test -test.v -test.count=1"
step "tensor CUDA tests" "$LOG/test-tensor.log" bash -c "cd tensor && ../.gpu/tensor.test -test.v -test.count=1 -test.run 'CUDA|GPU|ParseDevice'"
grep -E '^(--- FAIL|FAIL|ok|PASS)' "$LOG/test-tensor.log" | head -n 40
step "cmd/plp CUDA tests (bf16 vs fp32 cosine)" "$LOG/test-plp.log" bash -c "cd cmd/plp && ../../.gpu/plp.test -test.v -test.count=1 -test.run 'CUDA'"
for l in cuda tensor plp; do
	f=$LOG/test-$l.log
	[ -f "$f" ] || continue
	echo "{\"side\": \"plp\", \"tests\": \"$l\", \"pass\": $(grep -c -- '--- PASS' "$f"), \"fail\": $(grep -c -- '--- FAIL' "$f"), \"skip\": $(grep -c -- '--- SKIP' "$f")}" >>"$RESULTS"
done
step "attention kernel" "$LOG/bench-attention.log" bash -c "cd tensor && ../.gpu/tensor.test -test.run '^\$' -test.bench 'CUDAAttention' -test.benchtime 20x"
for v in fused_fp32 gemm_bf16; do
	att=$(grep "CUDAAttention/$v" "$LOG/bench-attention.log" | grep -oE '[0-9.]+ TFLOP/s' | head -n1 | cut -d' ' -f1)
	echo "{\"side\": \"plp\", \"kernel\": \"attention $v\", \"dtype\": \"${v#*_}\", \"n\": 257, \"hd\": 64, \"tflops\": ${att:-null}}" >>"$RESULTS"
done

# One manifest per call, so a fixture whose files are missing fails alone.
step "parity --device cuda" "$LOG/parity-cuda.jsonl" bash -c 'rc=0
for f in zoo/testdata/*.json; do
	.gpu/plp parity --device cuda "$f" || { rc=1; echo "{\"fixture_file\": \"$f\", \"ok\":false}"; }
done
exit $rc'
p_ok=$(grep -c '"ok":true' "$LOG/parity-cuda.jsonl" || true)
p_bad=$(grep -c '"ok":false' "$LOG/parity-cuda.jsonl" || true)
grep '"ok":false' "$LOG/parity-cuda.jsonl" | head -n 20
echo "{\"side\": \"plp\", \"parity_ok\": $p_ok, \"parity_failed\": $p_bad}" >>"$RESULTS"

for m in $MODELS; do
	for b in $BATCHES; do
		for d in $DTYPES; do
			tag=$(echo "$m" | tr '/' '_')_b${b}_$d
			if step "plp bench $m batch $b $d" "$LOG/bench-$tag.log" .gpu/plp bench --model "$m" --batch "$b" --dtype "$d" --device cuda --iters "$ITERS" --json; then
				grep '^{' "$LOG/bench-$tag.log" | sed "s|^{|{\"side\": \"plp\", \"req\": \"$m\", |" >>"$RESULTS"
			fi
		done
	done
done

if python3 -c 'import torch, timm' 2>/dev/null; then
	step "torch eager" "$LOG/torch.log" python3 scripts/torch_gpu_bench.py --models "$(echo $MODELS | tr ' ' ',')" \
		--batches "$(echo $BATCHES | tr ' ' ',')" --dtypes fp32,bf16 --iters "$ITERS"
	grep '^{' "$LOG/torch.log" >>"$RESULTS"
else
	echo "gpu-check: python3 with torch and timm not found; skipping the PyTorch side" | tee -a "$OUT/steps.log"
fi

python3 - "$RESULTS" <<'PY' | tee "$OUT/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gpu = next((r.get("gpu") for r in rows if r.get("gpu")), "?")
date = next((r.get("date") for r in rows if r.get("date")), "?")
print(f"\nplp GPU check summary ({gpu}, {date})")
for r in rows:
    if "tests" in r:
        print(f"tests {r['tests']:7s}: {r['pass']} passed, {r['fail']} failed, {r['skip']} skipped")
par = next((r for r in rows if "parity_ok" in r), {})
print(f"parity --device cuda: {par.get('parity_ok')} outputs within tolerance, {par.get('parity_failed')} over")
for r in rows:
    if r.get("kernel"):
        print(f"{r['side']:5s} {r['kernel']:22s} N={r['n']} hd={r['hd']}: {r['tflops']} TFLOP/s")
print(f"\n{'model':28s} {'batch':>5s} {'plp fp32':>10s} {'plp tf32':>10s} {'plp bf16':>10s} {'torch fp32':>11s} {'torch bf16':>11s}  (images/s)")
def name(r):
    return r.get("req", r.get("model"))
keys = sorted({(name(r), r["batch"]) for r in rows if "items_per_s" in r})
def get(side, model, batch, dtype):
    for r in rows:
        if r.get("side") == side and name(r) == model and r.get("batch") == batch and r.get("dtype") == dtype:
            return f"{r['items_per_s']:.1f}"
    return "-"
def num(side, model, batch, dtype):
    v = get(side, model, batch, dtype)
    return None if v == "-" else float(v)
for m, b in keys:
    print(f"{m:28s} {b:5d} {get('plp', m, b, 'fp32'):>10s} {get('plp', m, b, 'tf32'):>10s} {get('plp', m, b, 'bf16'):>10s} "
          f"{get('torch', m, b, 'fp32'):>11s} {get('torch', m, b, 'bf16'):>11s}")
p, t = num("plp", "openclip_ViT-L-14/openai", 256, "bf16"), num("torch", "openclip_ViT-L-14/openai", 256, "bf16")
if p and t:
    print(f"ViT-L/14 batch 256 bf16: plp/torch eager = {p / t:.2f} (issue target >= 1.0)")
PY

tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$LOG"

if [ ${#failed[@]} -gt 0 ]; then
	printf 'gpu-check: FAILED step: %s\n' "${failed[@]}"
	exit 1
fi
echo "gpu-check: all steps passed"
