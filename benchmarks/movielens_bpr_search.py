"""The validation search behind BPR-MF's settings in the MovieLens companion (lesson 04).

The benchmark's training part (``stratified_split(ratings)``, seed 42) is split again the same
way with seed 43: 75% of each movie's training ratings to fit, the rest to validate. Every
setting is scored there with the benchmark's own metrics (nDCG@10, candidates = the fit part's
items minus the user's own); the test part is never read. Run:

    PYTHONPATH=. python benchmarks/movielens_bpr_search.py [name ...]

and it prints one line per setting (nDCG@10, MAP, CPU seconds of the fit). The table it gave
is in ``benchmarks/movielens-bpr-validation.md``.
"""

from __future__ import annotations

import sys
import time

from ecomrec.baselines import BPRMF
from ecomrec.benchmark_protocol import evaluate_on_benchmark, stratified_split
from ecomrec.datasets import load_movielens_100k
from ecomrec.training import fix_threads

SEED = 2026
SETTINGS = {
    # the companion's earlier choice: uniform negatives over every other item
    "f64-e80-lr5e-3-l2e-2-uniform": dict(n_factors=64, epochs=80, lr=0.005, l2=0.01),
    "f64-e80-lr5e-3-l2e-2-unseen": dict(
        n_factors=64, epochs=80, lr=0.005, l2=0.01, negatives="unseen"
    ),
    # the published (cornac) BPR's size: 200 factors, lambda 0.001, 100 passes (Adam, not SGD)
    "f200-e100-lr1e-2-l2e-3-unseen": dict(
        n_factors=200, epochs=100, lr=0.01, l2=0.001, negatives="unseen"
    ),
    "f200-e100-lr5e-3-l2e-2-unseen": dict(
        n_factors=200, epochs=100, lr=0.005, l2=0.01, negatives="unseen"
    ),
    "f128-e80-lr5e-3-l2e-2-unseen": dict(
        n_factors=128, epochs=80, lr=0.005, l2=0.01, negatives="unseen"
    ),
    "f64-e120-lr5e-3-l2e-2-unseen": dict(
        n_factors=64, epochs=120, lr=0.005, l2=0.01, negatives="unseen"
    ),
    "f64-e80-lr5e-3-l2e-3-unseen": dict(
        n_factors=64, epochs=80, lr=0.005, l2=0.001, negatives="unseen"
    ),
    "f64-e80-lr5e-3-l2-3e-2-unseen": dict(
        n_factors=64, epochs=80, lr=0.005, l2=0.03, negatives="unseen"
    ),
    "f64-e40-lr1e-2-l2e-2-unseen": dict(
        n_factors=64, epochs=40, lr=0.01, l2=0.01, negatives="unseen"
    ),
}


def main(names: list[str]) -> None:
    fix_threads(1)
    movielens = load_movielens_100k()
    train = stratified_split(movielens.ratings).train  # the benchmark's training part only
    validation = stratified_split(train, seed=43)
    for name in names or list(SETTINGS):
        started = time.process_time()
        model = BPRMF(seed=SEED, progress=False, **SETTINGS[name])
        metrics, _ = evaluate_on_benchmark(model, validation, movielens.n_items, movielens.n_users)
        seconds = time.process_time() - started
        print(
            f"{name:34s} ndcg@10 {metrics['ndcg@10']:.4f}  map {metrics['map']:.4f}  "
            f"cpu {seconds:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
