"""
Multi-task regression on the School data
========================================

Multi-task regression on the School data: share across schools, adapt to new ones.

1. Train one network on 129 schools jointly, inside a scikit-learn pipeline, with the
   school ids routed as metadata; compare conditionings with the pooled and
   one-model-per-school baselines on held-out pupils.
2. Check each school for negative transfer with `transfer_report`.
3. Adapt to 10 schools never seen in training from 20 pupils each: only the new school's
   descriptor is learned, pulled towards the average school's (``sharing_penalty``, as
   few pupils overfit); the shared network stays frozen.

Runs offline on the School data shipped with skmeta, in about a minute on 2 CPU cores::

    python examples/multitask_school.py
"""

import numpy as np
import sklearn
import torch
from sklearn.metrics import explained_variance_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmeta.datasets import load_school
from skmeta.multitask import MultiTaskRegressor, transfer_report
from skmeta.tasks import tasks_from_groups

torch.set_num_threads(1)  # small networks train fastest on one thread
sklearn.set_config(enable_metadata_routing=True)

X, y, school = load_school()
rng = np.random.default_rng(0)
new_schools = rng.choice(np.unique(school), 10, replace=False)
known = ~np.isin(school, new_schools)

# held-out pupils of the known schools: 25% of each school
test = np.zeros(len(y), bool)
for s in np.unique(school[known]):
    rows = rng.permutation(np.flatnonzero(school == s))
    test[rows[: len(rows) // 4]] = True
train = known & ~test
test = known & test

params = dict(hidden_layer_sizes=(32,), batch_size=128, early_stopping=True, n_iter_no_change=5)
print("1. Held-out pupils of 129 schools: explained variance")
models = {}
for conditioning in ["additive", "multiplicative", "multihead", "independent", "shared"]:
    est = MultiTaskRegressor(conditioning=conditioning, **params, random_state=0)
    est.set_fit_request(task_ids=True).set_predict_request(task_ids=True)
    pipe = make_pipeline(StandardScaler(), est)
    pipe.fit(X[train], y[train], task_ids=school[train])
    pred = pipe.predict(X[test], task_ids=school[test])
    models[conditioning] = pipe
    print(f"   {conditioning:<15} {explained_variance_score(y[test], pred):.3f}")

print("\n2. Negative transfer per school (additive vs one network per school)")
scaled = StandardScaler().fit(X[known]).transform(X)
tasks = tasks_from_groups(scaled[known], y[known], school[known], n_support=0.75, random_state=0)
report = transfer_report(MultiTaskRegressor(**params, random_state=0), tasks)
print(report[["n_train", "model", "independent", "shared", "negative_transfer"]].head(8).round(3))
print(
    f"   mean explained variance: { {k: round(v, 3) for k, v in report.attrs['mean'].items()} }; "
    f"{report.attrs['n_negative_transfer']} of {len(report)} schools with negative transfer"
)

print("\n3. New schools, adapted from 20 pupils each (explained variance on their other pupils)")
pipe = models["additive"]
gains = []
for s in new_schools:
    rows = rng.permutation(np.flatnonzero(school == s))
    support, query = rows[:20], rows[20:]
    pooled = models["shared"].predict(X[query], task_ids=np.full(len(query), school[train][0]))
    # fit without task ids on the jointly trained pipeline's estimator: adapt only the
    # new school's descriptor (the scaler keeps its statistics from the joint training).
    # From 20 pupils the default adaptation overfits (docs/multitask.md, "Adapting to new
    # schools"): sharing_penalty pulls the new descriptor towards the average school's.
    est = pipe[-1].set_params(sharing_penalty=0.1)
    est.fit(pipe[0].transform(X[support]), y[support])
    adapted = est.predict(pipe[0].transform(X[query]))
    ev_adapted = explained_variance_score(y[query], adapted)
    ev_pooled = explained_variance_score(y[query], pooled)
    gains.append(ev_adapted - ev_pooled)
    print(f"   school {s:>3}: adapted {ev_adapted:6.3f}   pooled model {ev_pooled:6.3f}")
print(f"   mean gain of adapting over the pooled model: {np.mean(gains):+.3f}")
