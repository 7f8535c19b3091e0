#!/bin/bash
# One prepared command for a short GPU loan (the `device` tool: one H200, ~15 minutes in all): train the math solver
# and the xiangqi GPT side by side on the one GPU (with the fluency judge's character LMs), each with a wall-clock
# budget, and write what comes back to $OUT.
#
#   scripts/gpu_loan.sh prepare        # here: the data the runs read into .gpu_data/, pyffish into .whl/ (git-ignored, ~8 MB)
#   scripts/gpu_loan.sh lessons [MIN]  # here, optional, after prepare: tactical lessons for the int8 GPT (55 minutes)
#   scripts/gpu_loan.sh run            # there, with .gpu_data and .whl (pyffish) carried: about 8 minutes
#
# Every run is a candidate for a bundle and keeps its file limit (weights <= 9.5 MB): the math runs in fp16, the largest
# xiangqi GPT in int8 (`--preset gpu-int8`). The 8 x 512 and 47 M presets (`--preset gpu`) have run once (their figures
# are in the presets' comments); their weights cannot be bundled, so they no longer take a share of the loan.
# Every run picks its checkpoint on data held out from training (the math dev split, the xiangqi validation games).
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${GPU_DATA:-.gpu_data}
MINUTES=${GPU_MINUTES:-6.5}  # wall minutes of each training run

prepare() {
    local shared=../shared/data
    rm -rf "$DATA" && mkdir -p "$DATA/ape210k" "$DATA/math23k" "$DATA/xiangqi" "$DATA/modern_prose"
    xz -c "$shared/ape210k/valid.ape.json" >"$DATA/ape210k/valid.ape.json.xz"
    xz -c "$shared/ape210k/test.ape.json" >"$DATA/ape210k/test.ape.json.xz"
    cp "$shared/math23k/math23k_train_full.jsonl.xz" "$DATA/math23k/"
    cp "$shared/xiangqi/"*.jsonl.xz "$DATA/xiangqi/"
    cp "$shared/modern_prose/niutrans_modern.txt.xz" "$DATA/modern_prose/"  # 30 MB: the char LM's prose
    # The register of the judge's real sentences (chinese_prose's sentences and the bank questions, less every one in
    # the judge's pools: train_char_lm's chinese_prose_and_bank), shuffled, one a line: the char LMs' second stage.
    ${PYTHON:-python3} -c "import lzma, random, sys
from core.roformer_sim.data import DATA_DIR, PROSE_FILE
from core.roformer_sim.train_char_lm import read_chinese_prose_and_bank
lines = read_chinese_prose_and_bank(DATA_DIR, DATA_DIR / PROSE_FILE)
random.Random(0).shuffle(lines)
with lzma.open(sys.argv[1], 'wt', encoding='utf-8') as f: f.write('\\n'.join(lines) + '\\n')" "$DATA/char_lm_register.txt.xz"
    # The detector's data (train_detector's --work cache: real sentences and run 10's samples, about 15 CPU-minutes;
    # run 10 is the generator the judge's own fit samples), made here so the loan spends its minutes training: the CPU
    # run's cache when there is one (the same defaults make the same data), else made now.
    mkdir -p "$DATA/detector_work"
    if [ -f runs/detector/work/data.json.xz ]; then cp runs/detector/work/data.json.xz "$DATA/detector_work/"; else
        mkdir -p "$DATA/run10"
        git show 99f8b4d:assets/roformer_sim/model.safetensors >"$DATA/run10/model.safetensors"
        cp assets/roformer_sim/config.json assets/roformer_sim/vocab.txt "$DATA/run10/"
        ROFORMER_SIM_CHECKPOINT="$DATA/run10" ${PYTHON:-python3} -m core.roformer_sim.train_detector --steps 1 \
            --work "$DATA/detector_work" --out "$DATA/detector_work/smoke" | tail -1
        rm -rf "$DATA/run10" "$DATA/detector_work/smoke" "$DATA/detector_work/state.pt" "$DATA/detector_work/log.jsonl"
    fi
    # Weak labels for the answer-only CCF-BDCI problems, found by the bundled tree solver's beams (3 CPU-minutes).
    ${PYTHON:-python3} -m core.math_solver.weak_labels --threads 1 --out "$DATA/math_weak" | tail -1
    du -sh "$DATA"
    # The GPU machine's Python (3.12) may lack pyffish, the xiangqi rules: its wheel travels in .whl (git-ignored).
    rm -rf .whl && python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "pyffish==$(sed -n 's/.*"pyffish==\([^"]*\)".*/\1/p' pyproject.toml)" && ls .whl
}

# The bundle's games against blunderers, the search mode naming the move to learn (the xiangqi card's "The alpha-beta
# search as the teacher"), one process per core. With these in .gpu_data, the int8 GPT learns from them beside the master
# games (a quarter of each batch), as the bundle's lessons stage does, so what comes back is a bundle candidate that has
# been taught to hold its pieces.
lessons() {
    local minutes=${1:-55} seed
    mkdir -p "$DATA/lessons"
    for seed in 20 21; do
        ${PYTHON:-python3} -m core.xiangqi.lessons --teacher search --search-nodes 10000 --games 100000 \
            --minutes "$minutes" --seed $seed --threads 1 --out "$DATA/lessons/search-s$seed.pt" &
    done
    wait
    du -sh "$DATA/lessons"
}

run() {
    : "${OUT:?set OUT to the folder that comes back}"
    local runs=runs/gpu py=${PYTHON:-python3}
    mkdir -p "$runs"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$runs/gpu.txt"
    if ! $py -c "import pyffish" 2>/dev/null; then
        $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    local math=(--train "$DATA/ape210k/valid.ape.json.xz" "$DATA/math23k/math23k_train_full.jsonl.xz"
                --test "$DATA/ape210k/test.ape.json.xz" --epochs 400 --cpu-minutes "$MINUTES" --dev-every 1000
                --keep-best --threads 1)
    $py -m core.math_solver.train "${math[@]}" --init assets/math_solver --batch-size 64 --lr 5e-4 --warmup 200 \
        --save-fp16 --state-dir $runs/math_cont/state --out $runs/math_cont/model >$runs/math_cont.log 2>&1 &
    $py -m core.math_solver.train "${math[@]}" --batch-size 64 --lr 7e-4 --warmup 300 --dropout 0.1 \
        --save-fp16 --state-dir $runs/math_scratch/state --out $runs/math_scratch/model >$runs/math_scratch.log 2>&1 &
    # The tree decoder (GTS class), its GPU preset: 2-layer encoder, hidden 384, int8 weights (one bundle file), with the
    # CCF-BDCI weak labels beside the labelled problems.
    $py -m core.math_solver.train_tree --preset gpu --train "$DATA/ape210k/valid.ape.json.xz" \
        "$DATA/math23k/math23k_train_full.jsonl.xz" "$DATA/math_weak/weak.jsonl" --test "$DATA/ape210k/test.ape.json.xz" --cpu-minutes "$MINUTES" \
        --keep-best --threads 1 --state-dir $runs/math_tree/state --out $runs/math_tree/model >$runs/math_tree.log 2>&1 &

    # The fluency judge's character LMs, their GPU preset (4 x 256, int8: one bundle file each), one after the other in
    # the run's minutes: modern prose; then the register of the judge's sentences (the card: the register matters more
    # than the LM's size); then that LM turned right to left (--reverse), for the judge's backward features; then the
    # register LM fine-tuned into the judge's detector of broken text (train_detector, on the data prepared here).
    local lm=(--preset gpu --threads 1) quarter
    quarter=$(python3 -c "print(round($MINUTES / 4, 2))")
    { $py -m core.roformer_sim.train_char_lm "${lm[@]}" --cpu-minutes "$quarter" --prose "$DATA/modern_prose/niutrans_modern.txt.xz" \
        --work $runs/char_lm/work --out $runs/char_lm/model &&
      $py -m core.roformer_sim.train_char_lm "${lm[@]}" --init $runs/char_lm/model --prose "$DATA/char_lm_register.txt.xz" \
        --judge-lines 0 --lr 1e-3 --warmup 100 --cpu-minutes "$quarter" --work $runs/char_lm/work_register --out $runs/char_lm/register &&
      $py -m core.roformer_sim.train_char_lm "${lm[@]}" --init $runs/char_lm/register --reverse --prose "$DATA/char_lm_register.txt.xz" \
        --judge-lines 0 --lr 1e-3 --warmup 100 --cpu-minutes "$quarter" --work $runs/char_lm/work_backward --out $runs/char_lm/backward &&
      mkdir -p $runs/char_lm/work_detector && cp "$DATA/detector_work/data.json.xz" $runs/char_lm/work_detector/ &&
      $py -m core.roformer_sim.train_detector --init $runs/char_lm/register --batch 256 --cpu-minutes "$quarter" --threads 1 \
        --work $runs/char_lm/work_detector --out $runs/char_lm/detector
    } >$runs/char_lm.log 2>&1 &

    # Replay both game files once, on every core, into a cache each xiangqi run then reads.
    local games=("$DATA/xiangqi/ccpd_games_iccs.jsonl.xz" "$DATA/xiangqi/dpxq_games_iccs.jsonl.xz")
    $py -c "import sys; from core.xiangqi.data import cached_games; from core.xiangqi.vocab import MoveVocab
for path in sys.argv[1:]: cached_games(path, MoveVocab.build(), '$runs/xq_cache', workers=10)" "${games[@]}" \
        >$runs/xq_cache.log 2>&1 || { cat $runs/xq_cache.log; }
    local name
    for name in xq_int8 xq_cont; do mkdir -p $runs/$name/work && cp -l $runs/xq_cache/games-*.pt $runs/$name/work/; done
    local xq=(--games "${games[@]}" --cpu-minutes "$MINUTES" --max-steps 1000000 --replay-workers 1)
    local lessons=("$DATA"/lessons/*.pt) teach=()
    [ -e "${lessons[0]}" ] && teach=(--lessons "${lessons[@]}" --teacher-share 0.25)
    $py -m core.xiangqi.train "${xq[@]}" --preset gpu-int8 ${teach[@]+"${teach[@]}"} \
        --work-dir $runs/xq_int8/work --out $runs/xq_int8/model >$runs/xq_int8.log 2>&1 &
    $py -m core.xiangqi.train "${xq[@]}" --init assets/xiangqi --batch-size 256 --lr 1e-3 --warmup 200 \
        --work-dir $runs/xq_cont/work --out $runs/xq_cont/model >$runs/xq_cont.log 2>&1 &
    nvidia-smi >$runs/nvidia-smi.txt 2>&1
    wait
    nvidia-smi --query-gpu=memory.used --format=csv >>$runs/gpu.txt 2>&1

    for name in math_cont math_scratch math_tree xq_int8 xq_cont; do
        [ -d $runs/$name/model ] && tar -czf "$OUT/$name.tar.gz" -C $runs/$name model
    done
    [ -d $runs/char_lm/model ] && tar -czf "$OUT/char_lm.tar.gz" -C $runs/char_lm $(cd $runs/char_lm && ls -d model register backward detector 2>/dev/null)
    # Logs and training stats of every run.
    tar -czf "$OUT/logs.tar.gz" $runs/*.log $runs/*.txt $runs/*/state/log.jsonl $runs/*/work/log.jsonl \
        $runs/*/model/training_stats.json 2>/dev/null
    ls -la "$OUT"
    tail -n 3 $runs/*.log
}

"$@"
