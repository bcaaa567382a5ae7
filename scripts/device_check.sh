#!/usr/bin/env bash
# The GPU check, for a session that is lent a device machine: one command of about nine
# minutes, sized to the 15 minutes of device time such a session has (start included).
#
# It runs the test suite with the estimators' default device="auto", which resolves to
# CUDA there, so every estimator meta-trains, adapts, predicts, pickles and passes the
# sklearn checks on the GPU; then it meta-trains the Matching and Relation networks on
# 5-way 1-shot Omniglot for a few minutes each on CUDA and scores them, which gives their
# episodes per second there (what the full-budget runs of docs/benchmarks.md would take).
#
# The device image has torch, scikit-learn, scipy, pytest and matplotlib but not
# skmeta's other dependencies, and it reaches no package index, so they travel as
# wheels. Here, in the repository root, once:
#
#     bash scripts/device_check.sh --fetch-wheels
#
# then, with the device tool: run(command="bash scripts/device_check.sh",
# carry=[".whl"], timeout_s=600). Outputs (test log, JUnit XML, benchmark records and
# their logs) land in $OUT. On a CPU machine, `DEVICE=cpu MINUTES=0.1 TEST_EPISODES=20
# bash scripts/device_check.sh --dry-run` runs the same steps on tiny budgets with the
# suite left out, to check the script itself (about two minutes).
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=(optuna==5.1.0 skorch==1.4.0 alembic==1.20.1 sqlalchemy==2.1.9 greenlet==3.5.6
        colorlog==6.12.0 mako==1.4.3)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    exec python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi

OUT=${OUT:-/tmp/skmeta_device_check}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-2.5}
TEST_EPISODES=${TEST_EPISODES:-600}
mkdir -p "$OUT"

export PYTHONPATH=$PWD
if ! python3 -c "import optuna, skorch" 2> /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  python3 -c "import torch, sklearn, skmeta; print('torch', torch.__version__, '| cuda', \
torch.cuda.is_available(), '| sklearn', sklearn.__version__, '| skmeta', skmeta.__version__)"
} | tee "$OUT/versions.txt"

status=0
if [[ "${1:-}" != "--dry-run" ]]; then
    # The suite, stopped after four and a half minutes so the runs below keep their time;
    # the notebook test needs Jupyter, which the image lacks.
    timeout 270 python3 -m pytest -q -p no:cacheprovider -k "not notebook" \
        --junitxml="$OUT/pytest.xml" > "$OUT/pytest.txt" 2>&1
    status=$?
    tail -n 25 "$OUT/pytest.txt"
fi

for estimator in relation matching; do
    python3 -m skmeta.benchmarks omniglot --estimator "$estimator" --device "$DEVICE" \
        --n-way 5 --n-shot 1 --budget-minutes "$MINUTES" --test-episodes "$TEST_EPISODES" \
        --also-test 20w1s --no-progress \
        --output "$OUT/omniglot_${estimator}_5w1s_${DEVICE}.json" \
        > "$OUT/${estimator}.txt" 2>&1 || status=1
    tail -n 6 "$OUT/${estimator}.txt"
done
exit $status
