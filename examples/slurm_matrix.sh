#!/usr/bin/env bash
# The benchmark matrix on a SLURM cluster: one job-array task per shard, then one merge.
#
#   bash examples/slurm_matrix.sh submit                 # N shards, each generates and scores
#   STAGES=split bash examples/slurm_matrix.sh submit    # generation and scoring on two partitions
#
# What it submits (this same file is the batch script of every job; its first argument
# says which part it plays):
#   1. a job array of N tasks (`#SBATCH --array=0-N-1`); task I runs
#        hcvg run --config $MATRIX --shard I/N --out $RUN/shard-I --resume
#      Each shard owns the samples whose sha256 of (split label, sample id) modulo N is I
#      (benchmark/sharding.py), whatever the order, so a requeued or resumed task takes the
#      same samples and, with --resume, redoes only the cells its ledger lacks.
#   2. with STAGES=split, two arrays instead: `--stage generate` on $GEN_PARTITION (the
#      GPUs that fit the largest model), then `--stage score` on $SCORE_PARTITION (the metric
#      backbones), task I of the second starting when the whole first array is done
#      (afterok). The shard directory moves between them as is: its paths are relative.
#   3. a merge job, after every task succeeded (`sbatch --dependency=afterok:JOBID`):
#        hcvg merge $RUN/shard-* --out $RUN/merged
#      It checks that the shards ran one matrix with one code version, reports missing
#      or duplicated cells, recomputes FID/FVD from the shards' sum states and writes
#      the summary and leaderboard as one run would. A failed task blocks the merge: look
#      at logs/, resubmit that task (`sbatch --array=I examples/slurm_matrix.sh task`),
#      then the merge (`sbatch examples/slurm_matrix.sh merge`).
#
# Settings (environment variables):
#   MATRIX           the run matrix (default: examples/table2_demo.yaml); its `out` is replaced per shard
#   RUN              where the shards and the merge go (default: runs/slurm-matrix)
#   N                number of shards (default: 8); the #SBATCH --array line below is only
#                    the default of a plain `sbatch`; `submit` passes --array=0-$((N-1))
#   STAGES           "together" (default) or "split" (generate and score as two arrays)
#   PARTITION, GEN_PARTITION, SCORE_PARTITION, MERGE_PARTITION   SLURM partitions
#
#SBATCH --job-name=hcvg-matrix
#SBATCH --array=0-7
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail

MATRIX=${MATRIX:-examples/table2_demo.yaml}
RUN=${RUN:-runs/slurm-matrix}
N=${N:-8}
STAGES=${STAGES:-together}
PARTITION=${PARTITION:-gpu}
GEN_PARTITION=${GEN_PARTITION:-$PARTITION}
SCORE_PARTITION=${SCORE_PARTITION:-$PARTITION}
MERGE_PARTITION=${MERGE_PARTITION:-$PARTITION}
export HF_HUB_OFFLINE=1  # compute nodes read weights from the asset cache, never the network
export MATRIX RUN N STAGES

submit() {
    mkdir -p logs
    local last
    if [ "$STAGES" = split ]; then
        local generate
        generate=$(sbatch --parsable --array="0-$((N - 1))" --partition="$GEN_PARTITION" --job-name=hcvg-generate "$0" task generate)
        last=$(sbatch --parsable --array="0-$((N - 1))" --partition="$SCORE_PARTITION" --job-name=hcvg-score \
            --dependency="afterok:$generate" "$0" task score)
        echo "generate: job array $generate on $GEN_PARTITION; score: job array $last on $SCORE_PARTITION"
    else
        last=$(sbatch --parsable --array="0-$((N - 1))" --partition="$PARTITION" "$0" task all)
        echo "shards: job array $last"
    fi
    # afterok on an array waits for every one of its tasks to succeed.
    local merge
    merge=$(sbatch --parsable --dependency="afterok:$last" --partition="$MERGE_PARTITION" --gres=none --array=0 \
        --job-name=hcvg-merge "$0" merge)
    echo "merge: job $merge (after $last) into $RUN/merged"
}

task() {
    local stage=${1:-all}
    local id=${SLURM_ARRAY_TASK_ID:?run as a job-array task: sbatch --array=0-$((N - 1)) $0 task}
    case "$stage" in
        generate) hcvg run --config "$MATRIX" --stage generate --shard "$id/$N" --out "$RUN/shard-$id" --resume --no-progress ;;
        score) hcvg run --config "$MATRIX" --stage score --shard "$id/$N" --out "$RUN/shard-$id" --no-progress ;;
        all) hcvg run --config "$MATRIX" --shard "$id/$N" --out "$RUN/shard-$id" --resume --no-progress ;;
        *) echo "unknown stage $stage (generate, score or all)" >&2; exit 2 ;;
    esac
}

merge() {
    hcvg merge "$RUN"/shard-* --out "$RUN/merged"
}

case "${1:-}" in
    submit) submit ;;
    task) task "${2:-all}" ;;
    merge) merge ;;
    *) echo "usage: $0 submit | task [generate|score|all] | merge (see the header)" >&2; exit 2 ;;
esac
