"""`python -m skmeta.benchmarks`: each subcommand runs on a tiny budget and writes its record."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from skmeta.benchmarks import main

RUNS = {
    "omniglot": ["--estimator", "protonet", "--segment", "3", "--test-episodes", "10"],
    "sinusoid": ["--estimator", "maml", "--segment", "5", "--test-tasks", "20"],
    "school": ["--estimator", "additive", "--n-splits", "2"],
}


def run(benchmark, tmp_path, *extra):
    output = tmp_path / f"{benchmark}.json"
    command = [sys.executable, "-m", "skmeta.benchmarks", benchmark, "--budget-minutes", "0"]
    command += [*RUNS[benchmark], "--no-progress", "--output", str(output), *extra]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(output.read_text()), done.stdout


def check_record(record, stdout, subcommand, tmp_path):
    assert record["benchmark"] == subcommand
    assert record["config"]["estimator"] == RUNS[subcommand][1]
    assert set(record["versions"]) == {"python", "numpy", "torch", "sklearn", "skmeta"}
    assert record["machine"]["cpu_count"] >= 1
    # Times from different CPU models are not comparable: the record says which ran it.
    model = record["machine"]["cpu_model"]
    assert model is None or (isinstance(model, str) and model)
    if Path("/proc/cpuinfo").exists():
        assert model
    assert record["machine"]["reference_ms"] > 0  # the machine's speed, measured first
    assert record["wall_seconds"] > 0
    assert record["command"].startswith(f"python -m skmeta.benchmarks {subcommand}")
    result = record["result"]
    assert set(result) >= {"mean", "ci95", "metric"}
    assert result["ci95"] is None or result["ci95"] >= 0
    assert f"record written to {tmp_path}" in stdout


def test_omniglot_meta_trains_and_scores_unseen_characters(tmp_path):
    record, stdout = run("omniglot", tmp_path, "--also-test", "10w2s", "5w1s")
    check_record(record, stdout, "omniglot", tmp_path)
    results = record["results"]
    assert results["final"]["metric"] == "accuracy" and results["final"]["n_tasks"] == 10
    assert results["final"]["mean"] > 0.3  # above chance (20%) on 5-way 1-shot
    assert record["config"]["resolved_params"]["backbone"] == "conv4"
    # The final model is also scored on the other settings (5w1s, the headline, only once).
    settings = results["settings"]
    assert list(settings) == ["5w1s", "10w2s"]
    assert settings["5w1s"] == results["final"]
    assert settings["10w2s"]["n_tasks"] == 10 and settings["10w2s"]["mean"] > 0.15  # chance 10%
    assert "final model, 10w2s: " in stdout


def test_omniglot_model_selection_on_validation_characters(tmp_path):
    # One segment (--segment 3, rounded up to 4, a multiple of validation_interval),
    # validated on 4 episodes of the "val" characters after the 2nd and the 4th update.
    record, stdout = run(
        "omniglot", tmp_path, "--validation-episodes", "4", "--param", "validation_interval=2"
    )
    results = record["results"]
    assert record["config"]["validation_episodes"] == 4
    val = {h["meta_update"]: h["val_score"] for h in results["meta_history"] if "val_score" in h}
    assert sorted(val) == [2, 4] and all(0 <= v <= 1 for v in val.values())
    for point in results["curve"][1:]:
        # Each mark scores the best model on validation so far, not the last one.
        seen = {i: s for i, s in val.items() if i <= point["meta_updates"]}
        best = max(seen, key=lambda i: (seen[i], -i))
        assert point["selected_meta_update"] == best
        assert point["validation_score"] == pytest.approx(seen[best])
    assert "best on validation" in stdout


@pytest.mark.parametrize("also_test", [[], ["--also-test", "3w1s"]], ids=["alone", "also-test"])
def test_a_record_is_written_at_every_mark_before_the_last(tmp_path, monkeypatch, also_test):
    # A long run cut short keeps the marks it reached: each mark but the last writes the
    # record so far (complete: false), and so does the last when the other test settings
    # are still to be scored; the end writes it whole (complete: true).
    import copy

    from skmeta.benchmarks import _cli

    written = []
    monkeypatch.setattr(
        _cli, "write_record", lambda record, path: written.append((copy.deepcopy(record), path))
    )
    real_segments = _cli.meta_fit_segments

    def segments_of_one_second(estimator, *args, budget_seconds, **kwargs):
        # Each segment counts as one second of training, however long it takes: the marks
        # fall on the same segments on an idle machine and on a loaded one.
        steps = real_segments(estimator, *args, budget_seconds=1e9, **kwargs)
        for seconds, (done, _) in enumerate(steps, start=1):
            yield done, float(seconds)
            if seconds >= budget_seconds:
                return

    monkeypatch.setattr(_cli, "meta_fit_segments", segments_of_one_second)
    output = tmp_path / "run.json"
    argv = ["omniglot", "--budget-minutes", "0.05", "--eval-at", "0.005", *RUNS["omniglot"]]
    argv[argv.index("--segment") + 1] = "1"
    record = main([*argv, "--no-progress", "--output", str(output), *also_test])
    assert [path for _, path in written] == [output] * (3 if also_test else 2)
    partial, final = written[0][0], written[-1][0]
    if also_test:  # the last mark, written before the other settings are scored
        last = written[1][0]
        assert last["complete"] is False and "settings" not in last["results"]
        assert last["results"]["curve"] == final["results"]["curve"]
        assert set(final["results"]["settings"]) == {"5w1s", "3w1s"}
    assert partial["complete"] is False and final["complete"] is True
    assert final == record
    assert len(partial["results"]["curve"]) == 2  # untrained, first mark
    assert partial["results"]["curve"] == final["results"]["curve"][:2]
    assert len(final["results"]["curve"]) == 3
    assert final["results"]["meta_updates"] > partial["results"]["meta_updates"]


def test_segments_end_on_validations():
    # meta_fit validates at its last meta-update as well as every validation_interval:
    # segments are rounded up to a multiple of the interval, so segmenting a run adds no
    # validation to those of one uninterrupted meta_fit.
    from itertools import islice

    from skmeta import ProtoNetClassifier
    from skmeta.benchmarks import meta_fit_segments
    from skmeta.datasets import load_omniglot
    from skmeta.tasks import EpisodeSampler

    X, y = load_omniglot("val")
    tasks = EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, n_episodes=3, random_state=0)
    est = ProtoNetClassifier(backbone="conv4", n_way=3, validation_interval=4, random_state=0)
    segments = meta_fit_segments(
        est, X, y, budget_seconds=1e9, segment=3, progress=False, validation_tasks=tasks
    )
    assert [done for done, _ in islice(segments, 3)] == [4, 8, 12]
    validated = [h["iteration"] for h in est.meta_history_ if "val_score" in h]
    assert validated == [4, 8, 12]


@pytest.mark.parametrize("setting", ["5x1", "1w1s", "20w0s", "w5s"])
def test_bad_test_setting_is_refused(setting, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["omniglot", "--also-test", setting])
    assert exit_.value.code == 2
    assert "expected a setting such as 20w5s" in capsys.readouterr().err


def test_sinusoid_record_curve_plot_and_estimator_parameters(tmp_path):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "curve.png"
    record, stdout = run("sinusoid", tmp_path, "--plot", str(figure), "--param", "inner_lr=0.02")
    check_record(record, stdout, "sinusoid", tmp_path)
    results = record["results"]
    assert results["untrained"]["meta_updates"] == 0
    assert results["final"]["meta_updates"] == results["meta_updates"] >= 5
    assert results["final"] == results["curve"][-1]
    assert results["final"]["metric"] == "mse" and results["final"]["n_tasks"] == 20
    assert len(results["meta_history"]) == results["meta_updates"]
    assert figure.stat().st_size > 0
    assert record["config"]["param"] == {"inner_lr": 0.02}
    assert record["config"]["resolved_params"]["inner_lr"] == 0.02


def test_school_scores_the_baselines_on_the_same_splits(tmp_path):
    record, stdout = run("school", tmp_path)
    check_record(record, stdout, "school", tmp_path)
    models = record["results"]["models"]
    assert set(models) == {"additive", "independent ridge", "pooled ridge"}
    assert {m["n_splits"] for m in models.values()} == {1}  # the budget allows one split
    assert 0.2 < models["additive"]["mean"] < 0.6


def test_bad_estimator_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["omniglot", "--estimator", "nope"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sinusoid", "--budget-minutes", "0.01", "--eval-at", "0.1"], "outside the budget"),
        (["sinusoid", "--eval-at", "0"], "outside the budget"),
        (["sinusoid", "--segment", "0"], "--segment must be >= 1"),
        (["sinusoid", "--test-tasks", "0"], "--test-tasks must be >= 1"),
        (["omniglot", "--n-way", "1"], "--n-way must be >= 2"),
        (["sinusoid", "--param", "foo=1"], "MAMLRegressor has no parameter 'foo'"),
        (["sinusoid", "--param", "inner_lr=-1"], "--param inner_lr=-1: The 'inner_lr'"),
        (
            ["omniglot", "--estimator", "reptile", "--also-test", "20w1s", "5w5s"],
            "--also-test 20w1s: ReptileClassifier",
        ),
    ],
)
def test_arguments_that_would_fail_or_mislead_are_refused_before_any_work(argv, message, capsys):
    # (marks past the budget trained past it; the others failed after the untrained
    # evaluation, or after the whole run for --also-test)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_reference_step_is_a_fixed_workload_that_leaves_random_numbers_alone():
    import torch

    from skmeta.benchmarks import reference_step_ms

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ms = reference_step_ms(repeats=2)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream is untouched
    # 80 images through four 64-channel conv blocks, forward and backward: neither free
    # nor minutes long, whatever the machine.
    assert 0.1 < ms < 60_000
