"""scikit-learn's common estimator checks, run over every skmeta estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmeta import ProtoNetClassifier

ESTIMATORS = [ProtoNetClassifier(n_meta_iterations=2, random_state=0)]

# Each expected failure, with the reason it is expected.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
