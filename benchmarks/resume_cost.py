"""What resuming meta-training from a checkpoint costs: restoring the task stream's
position against replaying every task drawn so far.

`python -m skmeta.benchmarks` and `skmeta.benchmarks.meta_fit_segments` meta-train in
segments of 50 meta-updates, each resuming from a checkpoint, so that the clock can be
read and the model scored between segments. Until 2026-12-07 a resumed `meta_fit` moved
its task stream to the saved position by drawing (and discarding) every task it had
already trained on: segment k replayed 50·(k−1) episodes, a cost quadratic in the run.
Now `EpisodeSampler` and `GroupedTasks` save the position (generator state and count) in
the checkpoint and a resumed run restores it at once.

Three measurements, Omniglot (Vinyals train split, 28x28), one thread:

1. the cost of drawing one episode (what a replay pays per task) and of restoring a
   position, for 5-way 1-shot with 15 queries and 60-way 1-shot with 5 queries;
2. the same ``ProtoNetClassifier`` meta-training run three ways: one uninterrupted
   ``meta_fit``, in segments of 50 with the position restored, and in segments of 50
   replaying the stream (the old way, forced here): wall time, and a check that the
   three give identical parameters. An MLP encoder keeps the updates cheap, so that the
   replay's share shows in minutes rather than hours;
3. from the records of earlier runner runs in ``benchmarks/results/``: training minutes
   against the time the meta-updates themselves took (``meta_history_``'s ``time``), the
   share lost outside them;
4. saving and loading a checkpoint's ``meta_history_`` of 28,000 records (a 60-minute
   run's) as a list of dicts, as checkpoints held it before, and as the columns they
   hold now (``torch.load(..., weights_only=True)``; minimum of 7).

Run (about 4 minutes)::

    OMP_NUM_THREADS=1 python benchmarks/resume_cost.py

It prints the figures and writes ``benchmarks/results/resume_cost.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import skmeta.base
from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, meta_fit_segments, write_record
from skmeta.datasets import load_omniglot
from skmeta.tasks import EpisodeSampler

RESULTS = Path(__file__).parent / "results"
SETTINGS = {"5-way 1-shot, 15 queries": (5, 15), "60-way 1-shot, 5 queries": (60, 5)}
RUNNER_RECORDS = [
    "omniglot_matching_5w1s_60min.json",
    "omniglot_relation_5w1s_120min_19query.json",
    "omniglot_protonet_5w1s_train60way_120min_lrdecay.json",
    "omniglot_siamese_5w1s_60min_all.json",
]


def draw_costs(X: np.ndarray, y: np.ndarray, rounds: int) -> dict:
    """Median milliseconds to draw one episode, and to restore a stream's position."""
    out = {}
    for name, (n_way, n_query) in SETTINGS.items():
        sampler = EpisodeSampler(X, y, n_way=n_way, n_shot=1, n_query=n_query, random_state=0)
        stream = iter(sampler)
        draw, restore = [], []
        for _ in range(rounds):
            tic = time.perf_counter()
            for _ in range(100):
                next(stream)
            draw.append((time.perf_counter() - tic) / 100 * 1e3)
            state = stream.get_state()
            tic = time.perf_counter()
            iter(sampler).set_state(state)
            restore.append((time.perf_counter() - tic) * 1e3)
        out[name] = {"draw_ms": float(np.median(draw)), "restore_ms": float(np.median(restore))}
    return out


def runs(X: np.ndarray, y: np.ndarray, n_updates: int, segment: int, tmp: Path) -> dict:
    """The same meta-training, uninterrupted and in resumed segments (restored, replayed)."""
    params = dict(
        backbone="mlp",
        hidden_layer_sizes=(64,),
        n_way=5,
        n_shot=1,
        n_query=15,
        n_meta_iterations=n_updates,
        random_state=0,
    )
    ProtoNetClassifier(**{**params, "n_meta_iterations": 20}).meta_fit(X, y)  # warm-up
    out, models = {}, {}
    arms = {
        "uninterrupted meta_fit": None,
        "segments, position restored": False,
        "segments, stream replayed (before)": True,
    }
    for arm, replay in arms.items():
        est = ProtoNetClassifier(**params)
        tic = time.perf_counter()
        if replay is None:
            est.meta_fit(X, y)
        else:
            # the old way: the stream's position unknown, so each resume replays it
            forced = mock.patch.object(skmeta.base, "_resumable", lambda s: False)
            with forced if replay else contextlib.nullcontext():
                segments = meta_fit_segments(
                    est, X, y, budget_seconds=1e9, segment=segment, progress=False
                )
                for done, _ in segments:
                    if done >= n_updates:
                        segments.close()
                        break
        seconds = time.perf_counter() - tic
        out[arm] = {
            "seconds": seconds,
            "meta_updates": int(est.n_meta_iter_),
            "update_seconds": float(sum(h["time"] for h in est.meta_history_)),
        }
        models[arm] = est.meta_params_
        print(f"   {arm:38s} {seconds:7.1f} s ({est.n_meta_iter_} meta-updates)")
    first = next(iter(models.values()))
    out["identical_parameters"] = all(
        all(torch.equal(first[k], m[k]) for k in first) for m in models.values()
    )
    return out


def history_round_trip(n_records: int = 28000, repeats: int = 7) -> dict:
    """Milliseconds to save and load a checkpoint's history: list of dicts vs columns."""
    import io

    from skmeta.base import _history_columns, _history_rows

    history = [
        {"iteration": i + 1, "loss": 1.0 / (i + 1), "accuracy": 0.5, "time": 0.1}
        | ({"val_score": 0.9} if i % 100 == 0 else {})
        for i in range(n_records)
    ]
    out = {}
    for name, (encode, decode) in {
        "list of dicts (before)": (lambda h: h, lambda h: h),
        "columns (now)": (_history_columns, _history_rows),
    }.items():
        save, load = [], []
        for _ in range(repeats):
            buffer = io.BytesIO()
            tic = time.perf_counter()
            torch.save({"history": encode(history)}, buffer)
            save.append(time.perf_counter() - tic)
            buffer.seek(0)
            tic = time.perf_counter()
            assert decode(torch.load(buffer, weights_only=True)["history"]) == history
            load.append(time.perf_counter() - tic)
        out[name] = {"save_ms": 1e3 * min(save), "load_ms": 1e3 * min(load)}
    return out


def from_records() -> dict:
    """Training minutes of earlier runner records against their meta-updates' own time."""
    out = {}
    for name in RUNNER_RECORDS:
        path = RESULTS / name
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        history = record["results"]["meta_history"]
        curve = record["results"]["curve"]
        minutes = max(c["minutes"] for c in curve)
        updates = sum(h["seconds"] for h in history) / 60
        out[name] = {
            "training_minutes": minutes,
            "meta_update_minutes": updates,
            "meta_updates": int(history[-1]["iteration"]) if "iteration" in history[-1] else None,
            "share_outside_updates": 1 - updates / minutes,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=6000)
    parser.add_argument("--segment", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--output", default=str(RESULTS / "resume_cost.json"))
    args = parser.parse_args(argv)
    X, y = load_omniglot("train")

    print("1. Drawing an episode (a replay pays this per task) and restoring a position")
    costs = draw_costs(X, y, args.rounds)
    for name, c in costs.items():
        print(f"   {name:28s} draw {c['draw_ms']:.3f} ms, restore {c['restore_ms']:.3f} ms")
    print(f"2. ProtoNet (MLP encoder), {args.updates} meta-updates, segments of {args.segment}")
    with tempfile.TemporaryDirectory() as tmp:
        timed = runs(X, y, args.updates, args.segment, Path(tmp))
    print(f"   identical parameters: {timed['identical_parameters']}")
    print("3. Earlier runner records: minutes outside the meta-updates")
    records = from_records()
    for name, r in records.items():
        print(
            f"   {name:55s} {r['training_minutes']:6.1f} min, updates "
            f"{r['meta_update_minutes']:6.1f} min ({100 * r['share_outside_updates']:.0f}% outside)"
        )
    print("4. A checkpoint's meta_history_ of 28,000 records: save and load")
    history = history_round_trip()
    for name, r in history.items():
        print(f"   {name:24s} save {r['save_ms']:.0f} ms, load {r['load_ms']:.0f} ms")
    record = {
        "benchmark": "resume_cost",
        "config": vars(args),
        "results": {
            "draw_costs": costs,
            "runs": timed,
            "runner_records": records,
            "history_round_trip": history,
        },
        **environment("cpu"),
    }
    write_record(record, Path(args.output))
    print(f"record written to {args.output}")
    return record


if __name__ == "__main__":
    main()
