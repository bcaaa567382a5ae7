"""examples/notebooks/quick_baselines.ipynb runs as stored and ends in its results table."""

import json
import os

import pytest
from conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = REPO / "examples" / "notebooks" / "quick_baselines.ipynb"
ESTIMATORS = {
    "ProtoNet",
    "MatchingNet",
    "RelationNet",
    "Siamese",
    "MAML",
    "BlackBox (CNP)",
    "FineTune",
}


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_quick_baselines_compares_every_few_shot_estimator_above_chance():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("print(results.to_json(orient='index'))"))
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}},
    )
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    client.execute(env=env)

    *_, table_cell, check_cell = [c for c in notebook.cells if c.cell_type == "code"]
    table = table_cell.outputs[0]["data"]["text/plain"]
    assert "5-way 1-shot accuracy" in table and "±" in table
    results = json.loads(check_cell.outputs[0]["text"])
    assert set(results) == ESTIMATORS
    for name, row in results.items():
        # chance is 1/5: the whole 95% interval must lie above it
        assert row["accuracy"] - row["ci95"] > 0.2, (name, row)
