#!/usr/bin/env bash
# Side-by-side CPU speed comparisons of plp against PyTorch and Pillow, measured in one run on one machine
# (absolute figures drift on shared machines; the ratios are what README reports). Needs Go and Debian's
# python3-torch, python3-torchvision, python3-pil and libopenblas0 (so that torch's BLAS is OpenBLAS). Writes raw JSON lines to ${OUT:-bench-out}/.
set -euo pipefail
cd "$(dirname "$0")/.."
# CPU=avx2 (or avx512) caps both sides to one x86 instruction set, so that an AVX-512 machine also
# measures what an AVX2-only CPU gets: plp through PLP_CPU, PyTorch through ATEN_CPU_CAPABILITY (its own
# kernels), OpenBLAS's Haswell (AVX2) or SkylakeX (AVX-512) kernels (its matmuls) and, for AVX2, oneDNN's
# ISA cap (its convolutions). Unset, each side uses the best it finds.
case ${CPU:-} in
"") ;;
avx2) export PLP_CPU=avx2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
avx512) export PLP_CPU=avx512 ATEN_CPU_CAPABILITY=avx512 OPENBLAS_CORETYPE=SkylakeX ;;
*) echo "bench-cpu.sh: CPU=$CPU: want avx2 or avx512" >&2; exit 2 ;;
esac
out=${OUT:-bench-out${CPU:+-$CPU}}
mkdir -p "$out"
py=/usr/bin/python3
# Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its Prescott (SSE3) kernels,
# which makes PyTorch's matmuls ~30x slower; pin its fastest AVX-512 kernels unless the caller chose.
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
make -s build
log() { echo "== $*" >&2; }
log "plp kernels: $(bin/plp version | sed -n 's/^CPU kernels: //p'); PyTorch: ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-unset} OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}"
# ONLY=models (or gemm, probe, trainstep, decode, scores; several separated by commas) runs those parts alone.
want() { [[ ${ONLY:-all} == all || ,${ONLY}, == *",$1,"* ]]; }

if want gemm; then
log "SGEMM, ${ROUNDS:-3} alternating rounds"
# plp and PyTorch alternate shape by shape, as the models do below, so that drifts in the machine's speed
# hit both sides alike.
: >"$out/gemm_plp.jsonl"
: >"$out/gemm_torch.jsonl"
for round in $(seq "${ROUNDS:-3}"); do
  for s in 3152x768x2304 3152x768x768 3152x3072x768 3152x768x3072 4112x1024x4096; do
    IFS=x read -r m k n <<<"$s"
    bin/plp bench gemm --json --iters 5 --shapes "$s" | sed "s/^{/{\"round\":$round,/" | tee -a "$out/gemm_plp.jsonl"
    $py scripts/torch_bench.py gemm --m "$m" --k "$k" --n "$n" --repeats 5 | sed "s/^{/{\"round\": $round, /" | tee -a "$out/gemm_torch.jsonl"
  done
done
fi

if want models; then
log "whole models, batch 16, random weights, ${ROUNDS:-3} alternating rounds"
# The text tower runs twice: on PyTorch's own input (random ids at all 77 positions, pooled at the largest,
# where plp computes each text only up to its pooled position) and on texts that fill the context (where
# it cannot skip anything). The speed of these shared machines drifts by tens of percent within minutes, so
# plp and PyTorch alternate, model by model, for several rounds; compare the pairs, not the extremes.
for round in $(seq "${ROUNDS:-3}"); do
  for pair in "openclip_ViT-B-16/openai image vitb16-image" "openclip_ViT-B-16/openai text vitb16-text --text-ids random" \
              "openclip_ViT-B-16/openai text vitb16-text --text-tokens 77" \
              "timm_resnet50 image resnet50" "timm_convnext_base_in22k image convnext_base"; do
    read -r model tower torchname extra <<<"$pair"
    # shellcheck disable=SC2086 # extra holds flags
    bin/plp bench --model "$model" --tower "$tower" --batch 16 --iters 3 --json $extra | sed "s/^{/{\"round\":$round,\"extra\":\"$extra\",/" | tee -a "$out/models_plp.jsonl"
    $py scripts/torch_bench.py model --model "$torchname" --batch 16 | sed "s/^{/{\"round\": $round, /" | tee -a "$out/models_torch.jsonl"
  done
done
bin/plp bench --model openclip_RN50/openai --batch 16 --iters 3 --json | tee -a "$out/models_plp.jsonl"
fi

if want probe; then
log "linear probe: one epoch of 50000 x 1024, 100 classes, batch 8192"
go test -run '^$' -bench ProbeEpoch -benchtime 3x ./train | tee "$out/probe_plp.txt"
$py scripts/torch_probe.py | tee "$out/probe_torch.jsonl"
fi

if want trainstep; then
log "ViT-B/16 training step, batch 8"
go test -run '^$' -bench ViTB16TrainStep -benchtime 2x ./train | tee "$out/trainstep_plp.txt"
$py scripts/torch_vit_train_step.py --batch 8 | tee "$out/trainstep_torch.jsonl"
fi

if want decode; then
log "decode + resize + crop + normalise of a 500x375 JPEG, one core"
go test -run '^$' -bench DecodePreprocessJPEG500x375 -benchtime 300x -cpu 1 ./imaging | tee "$out/decode_plp.txt"
$py scripts/torch_bench.py pil --image data/testdata/bench/photo420_500x375.jpg | tee "$out/decode_pil.jsonl"
fi

if want scores; then
log "Mahalanobis and kNN scoring: 10000 test x 50000 train x 1024"
go test -run '^$' -bench 'KNN|Mahalanobis' -benchtime 1x ./eval | tee "$out/scores_plp.txt"
fi
