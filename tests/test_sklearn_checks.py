"""scikit-learn's common estimator checks, run over every skmeta estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmeta import (
    BlackBoxClassifier,
    BlackBoxRegressor,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    MatchingNetClassifier,
    ProtoNetClassifier,
    RelationNetClassifier,
    ReptileClassifier,
    ReptileRegressor,
    SiameseClassifier,
)

ESTIMATORS = [
    FineTuneClassifier(n_meta_iterations=2, random_state=0),
    ProtoNetClassifier(n_meta_iterations=2, random_state=0),
    MatchingNetClassifier(n_meta_iterations=2, random_state=0),
    RelationNetClassifier(n_meta_iterations=2, random_state=0),
    SiameseClassifier(n_meta_iterations=2, random_state=0),
    MAMLClassifier(n_meta_iterations=2, random_state=0),
    MAMLClassifier(learn_inner_lr=True, adapt="head", n_adapt_steps=3, random_state=0),
    MAMLRegressor(n_meta_iterations=2, random_state=0),
    ReptileClassifier(n_meta_iterations=2, random_state=0),
    ReptileRegressor(n_meta_iterations=2, random_state=0),
    BlackBoxClassifier(n_meta_iterations=2, random_state=0),
    BlackBoxRegressor(n_meta_iterations=2, random_state=0),
    BlackBoxRegressor(aggregation="attention", n_meta_iterations=2, random_state=0),
    BlackBoxClassifier(aggregation="attention", n_meta_iterations=2, random_state=0),
]

_FLOAT32_SUBSETS = (
    "Regressors return float32 network outputs; torch's float32 matrix products differ "
    "in the last bit (about 1e-7 relative) with the number of rows, because BLAS blocks "
    "a 20-row batch differently from a 1-row one. The check asks for 1e-7."
)

# Each expected failure, with the reason it is expected.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "FineTuneClassifier": {
        "check_methods_subset_invariance": "Its probabilities come from float32 features "
        "and logits (body and head matrix products), which differ in the last bit (about "
        "5e-7 relative) between a 20-row batch and a 1-row one; the check asks for 1e-7."
    },
    "MAMLRegressor": {"check_methods_subset_invariance": _FLOAT32_SUBSETS},
    "ReptileRegressor": {"check_methods_subset_invariance": _FLOAT32_SUBSETS},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
