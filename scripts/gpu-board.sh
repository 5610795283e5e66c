#!/usr/bin/env bash
# The board on a GPU machine: a real VLM fine-tuned with LoRA (accelerate, bf16) on the tiny
# preset into a target and a retain model per level, every registered method at every level with
# its defaults for real checkpoints (LoRA, bf16), each evaluated, submitted, checked and built
# into leaderboard-<track>/ (index.html, board.md).
#
#   scripts/gpu-board.sh BASE_MODEL [TRACK]   BASE_MODEL: a local checkpoint folder (a download
#                                             of llava-hf/llava-1.5-7b-hf, Qwen2.5-VL-7B, Lingshu-7B)
#
# Settings, from the environment: DATASET (a built dataset; default: the tiny preset, built into
# medforget-tiny), LEVELS, METHODS (default: every level, every registered method), EPOCHS (the
# LoRA fine-tunes'; default the recipe's), LAUNCH (default: accelerate launch, its configured GPUs),
# BIN (where medforget and accelerate are; default this clone's .venv/bin). Everything it writes
# goes under the current folder: models/TRACK, runs/TRACK, leaderboard-TRACK. Install your CUDA build of torch into .venv first (make setup installs the CPU one). The slow
# test tests/models/test_gpu_board.py runs this script on CPU with a tiny random model; what a 7B
# run needs is in the README ("The GPU path").
set -euo pipefail
base=${1:?usage: scripts/gpu-board.sh BASE_MODEL [TRACK]}
track=${2:-gpu}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$here/.venv/bin}
mf=$bin/medforget
read -r -a launch <<<"${LAUNCH:-$bin/accelerate launch}"
dataset=${DATASET:-medforget-tiny}
read -r -a levels <<<"${LEVELS:-institution patient study section}"
read -r -a methods <<<"${METHODS:-$($mf ls methods --names)}"
epochs=(${EPOCHS:+--epochs "$EPOCHS"})
hardware=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
models=models/$track runs=runs/$track board=leaderboard-$track
start=$(date +%s)

[ -n "${DATASET:-}" ] || [ -f "$dataset/manifest.json" ] || $mf build --preset tiny --out "$dataset"
"${launch[@]}" -m medforget train --base-model "$base" --dataset "$dataset" "${epochs[@]}" --out "$models/target"
for level in "${levels[@]}"; do
    "${launch[@]}" -m medforget train --base-model "$base" --dataset "$dataset" "${epochs[@]}" --without "$level" \
        --out "$models/retain-$level"
done
$mf sweep --dataset "$dataset" --target "$models/target" --retain "$models/retain-{level}" --methods "${methods[@]}" \
    --levels "${levels[@]}" --models "$models" --runs "$runs" --track model
mkdir -p "$board/submissions"
[ -f "$board/metrics.json" ] || cp "$here/leaderboard/metrics.json" "$board/"  # the board's columns
for name in target retain "${methods[@]}"; do
    case $name in target | retain) role=$name ;; *) role=unlearned ;; esac
    $mf submit "${levels[@]/#/$runs/$name/}" --name "$track-$name" --track "$track" --role "$role" \
        --hardware "${hardware:-$(uname -m) CPU}" --out "$board/submissions/$track-$name"
done
$mf leaderboard tracks --board "$board" --track "$track" --seed 0 "$track-target" "$track-retain"
$mf leaderboard build --board "$board" --dataset "$track=$dataset" --levels "${levels[@]}"
echo "the $track board: $board/index.html ($(($(date +%s) - start)) s)"
