"""scikit-learn's common estimator checks over MultiTaskRegressor and MultiTaskClassifier.

The checks call ``fit(X, y)`` without task ids: an estimator never trained jointly then
trains on all rows as one task, a plain MLP, so the checks apply to it as to any
estimator. The joint (multi-task) path, with ``task_ids`` routed as metadata, is tested
in ``test_multitask.py``.
"""

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmeta.multitask import MultiTaskClassifier, MultiTaskRegressor

PARAMS = dict(hidden_layer_sizes=(16,), max_epochs=30, learning_rate=1e-2, random_state=0)
ESTIMATORS = [MultiTaskRegressor(**PARAMS), MultiTaskClassifier(**PARAMS)]

# Each expected failure, with the reason it is expected.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
