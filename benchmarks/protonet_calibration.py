"""ProtoNet's predicted probabilities on Omniglot: fixed, fitted and learned temperature.

Meta-trains `ProtoNetClassifier` (Conv-4, 28x28, 5-way 1-shot episodes with 15 queries,
``transductive=False``) three times with the same seed and episodes:

* ``temperature=1.0``, the paper's softmax over negative squared distances;
* ``temperature="fitted"``: the same meta-training at T = 1, then T fitted to minimise
  the query negative log-likelihood of episodes from the Vinyals *validation* characters
  (temperature scaling, Guo et al. 2017); it changes no prediction;
* ``temperature="learned"``: log T meta-trained with the encoder (TADAM's metric scaling).

Each is scored on 600 test episodes of the unseen test characters, 5-way 1-shot and
20-way 1-shot: accuracy, mean query negative log-likelihood, expected calibration error
(ECE, 10 equal-width confidence bins) and the Brier score, each with the 95% interval of
its per-episode mean. Lower NLL, ECE and Brier are better.

Run (about 15 minutes on one thread)::

    OMP_NUM_THREADS=1 python benchmarks/protonet_calibration.py --n-meta-iterations 2000

It prints a table and writes ``benchmarks/results/protonet_calibration.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.benchmarks._omniglot import omniglot_test_episodes
from skmeta.datasets import load_omniglot
from skmeta.tasks import EpisodeSampler

N_BINS = 10


def calibration_errors(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Expected calibration error: the bin-weighted gap between confidence and accuracy.

    >>> calibration_errors(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 1, 1, 0]))
    0.1
    """
    bins = np.minimum((confidence * N_BINS).astype(int), N_BINS - 1)
    gaps = [
        np.mean(bins == b) * abs(confidence[bins == b].mean() - correct[bins == b].mean())
        for b in np.unique(bins)
    ]
    return round(float(np.sum(gaps)), 12)


def score(model: ProtoNetClassifier, tasks: list) -> dict:
    """Accuracy, NLL, ECE and Brier score of ``model`` over ``tasks`` (mean, 95% CI)."""
    per_task = {"accuracy": [], "nll": [], "brier": []}
    confidence, correct = [], []
    for task in tasks:
        proba = model.fit(task.X_support, task.y_support).predict_proba(task.X_query)
        truth = np.searchsorted(model.classes_, task.y_query)
        rows = np.arange(truth.size)
        hit = proba.argmax(axis=1) == truth
        onehot = np.zeros_like(proba)
        onehot[rows, truth] = 1.0
        per_task["accuracy"].append(hit.mean())
        per_task["nll"].append(-np.log(np.clip(proba[rows, truth], 1e-12, None)).mean())
        per_task["brier"].append(((proba - onehot) ** 2).sum(axis=1).mean())
        confidence.append(proba.max(axis=1))
        correct.append(hit)
    out = {
        name: {"mean": float(np.mean(v)), "ci95": float(1.96 * np.std(v) / np.sqrt(len(v)))}
        for name, v in per_task.items()
    }
    out["ece"] = calibration_errors(np.concatenate(confidence), np.concatenate(correct))
    out["mean_confidence"] = float(np.concatenate(confidence).mean())
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-meta-iterations", type=int, default=2000)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--validation-episodes", type=int, default=100)
    parser.add_argument(
        "--data-home", default=None, help="defaults to SKMETA_DATA or the embedded copy"
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    X_train, y_train = load_omniglot("train", data_home=args.data_home)
    X_val, y_val = load_omniglot("val", data_home=args.data_home)
    X_test, y_test = load_omniglot("test", data_home=args.data_home)
    settings = {
        f"{n_way}w1s": list(omniglot_test_episodes(X_test, y_test, n_way, 1, args.test_episodes))
        for n_way in (5, 20)
    }
    validation = EpisodeSampler(
        X_val,
        y_val,
        n_way=5,
        n_shot=1,
        n_query=15,
        n_episodes=args.validation_episodes,
        random_state=args.random_state + 1,
    )
    params = dict(
        backbone="conv4",
        n_way=5,
        n_shot=1,
        n_query=15,
        meta_lr=1e-3,
        transductive=False,
        n_meta_iterations=args.n_meta_iterations,
        random_state=args.random_state,
    )

    results = {}
    model = None
    for temperature in (1.0, "fitted", "learned"):
        tic = time.perf_counter()
        model = ProtoNetClassifier(temperature=temperature, **params)
        model.meta_fit(X_train, y_train, validation_tasks=validation)
        seconds = time.perf_counter() - tic
        name = f"temperature={temperature!r}"
        results[name] = {
            "temperature": float(np.exp(float(model.meta_params_["log_temperature"]))),
            "meta_train_seconds": seconds,
            **{setting: score(model, tasks) for setting, tasks in settings.items()},
        }
        row = results[name]
        print(f"{name:24s} T = {row['temperature']:.3f} ({seconds / 60:.1f} min)")
        for setting in settings:
            r = row[setting]
            print(
                f"   {setting}: accuracy {100 * r['accuracy']['mean']:.2f}% "
                f"± {100 * r['accuracy']['ci95']:.2f}%, NLL {r['nll']['mean']:.3f} "
                f"± {r['nll']['ci95']:.3f}, ECE {r['ece']:.3f}, Brier {r['brier']['mean']:.3f}, "
                f"mean confidence {r['mean_confidence']:.3f}"
            )

    record = {
        "benchmark": "protonet_calibration",
        "config": vars(args) | {"params": params, "validation": "Vinyals val split, 5-way 1-shot"},
        "results": results,
        **environment(model.device_),
    }
    out = (
        Path(args.output)
        if args.output
        else Path(__file__).parent / "results" / "protonet_calibration.json"
    )
    write_record(record, out)
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
