"""The validation choices behind the two-stage ranker of the MovieLens companion (lesson 04).

On the course's temporal protocol (each user's last rating is the test target, the one before
the validation target), the ranker's training targets are each user's last `RANKER_POSITIONS`
training ratings (:func:`ecomrec.ranking.movielens.positional_training_targets`). This script
chooses, without reading the test targets:

- the candidate quotas of the union, by the candidates' recall on the *training* targets;
- the number of LambdaMART trees, by NDCG@10 on the *validation* targets (statistics and BPR-MF
  fitted on the training ratings, histories = the training ratings before each target).

Run ``PYTHONPATH=. python benchmarks/movielens_ranker_search.py``; the output is recorded in
``benchmarks/movielens-bpr-validation.md``.
"""

from __future__ import annotations

import time

from ecomrec import evaluation
from ecomrec import schema as S
from ecomrec.baselines import BPRMF
from ecomrec.datasets import load_movielens_100k
from ecomrec.metrics import ndcg_at_k, target_ranks
from ecomrec.ranking import (
    LambdaMART,
    candidate_recall,
    full_catalogue_scores,
    top_candidates,
    training_lists,
    union_order,
)
from ecomrec.ranking.movielens import (
    MovieLensStatistics,
    Targets,
    movielens_features,
    movielens_sources,
    positional_training_targets,
)
from ecomrec.splits import seen_items, temporal_split
from ecomrec.training import fix_threads

SEED = 2026
BPR = dict(
    n_factors=64, epochs=80, lr=0.005, l2=0.01, negatives="unseen", seed=SEED, progress=False
)
POSITIONS = 5
CANDIDATES = 100
QUOTAS = {  # the union's share of each source (co-occurrence : item-kNN : BPR-MF : popular)
    "1 : 1 : 1 : 1": None,
    "2 : 1 : 2 : 0.5": {"co-occurrence": 2.0, "item-kNN": 1.0, "BPR-MF": 2.0, "popular": 0.5},
    "2 : 0.5 : 1 : 0.25": {"co-occurrence": 2.0, "item-kNN": 0.5, "BPR-MF": 1.0, "popular": 0.25},
    "1 : 0.5 : 2 : 0.25": {"co-occurrence": 1.0, "item-kNN": 0.5, "BPR-MF": 2.0, "popular": 0.25},
}
RANKERS = {  # (trees, leaves, min_child_samples)
    "100 trees, 31 leaves": (100, 31, 20),
    "200 trees, 15 leaves": (200, 15, 50),
    "50 trees, 31 leaves": (50, 31, 20),
}


def main() -> None:
    fix_threads(1)
    started = time.process_time()
    movielens = load_movielens_100k()
    n_items, n_users = movielens.n_items, movielens.n_users
    temporal = temporal_split(movielens.ratings)
    stats_log, fit_targets = positional_training_targets(temporal.train, POSITIONS)
    fit_stats = MovieLensStatistics(
        stats_log, movielens, BPRMF(**BPR).fit(stats_log, n_items, n_users)
    )
    fit_sources = movielens_sources(fit_stats, fit_targets)
    recall = {}
    for name, quotas in QUOTAS.items():
        order = union_order(fit_sources, fit_targets.histories, quotas)
        recall[name] = candidate_recall(top_candidates(order, CANDIDATES), fit_targets.items)
        print(f"training-target recall@{CANDIDATES} {name:26s} {recall[name]:.4f}", flush=True)
    for name, scores in fit_sources.items():
        alone = top_candidates(union_order({name: scores}, fit_targets.histories), CANDIDATES)
        print(
            f"training-target recall@{CANDIDATES} {name + ' alone':26s} "
            f"{candidate_recall(alone, fit_targets.items):.4f}",
            flush=True,
        )
    best = max(recall, key=recall.get)
    quotas = QUOTAS[best]
    fit_candidates = top_candidates(
        union_order(fit_sources, fit_targets.histories, quotas), CANDIDATES
    )
    fit_table = movielens_features(fit_stats, fit_targets, fit_candidates, fit_sources)
    x, y = training_lists(fit_table.values, fit_table.labels, 50, SEED)

    context = evaluation.scoring_context(temporal, "valid")
    valid_targets = Targets(context.users, temporal.valid[S.ITEM].to_numpy(), context.histories)
    valid_stats = MovieLensStatistics(
        temporal.train, movielens, BPRMF(**BPR).fit(temporal.train, n_items, n_users)
    )
    valid_sources = movielens_sources(valid_stats, valid_targets)
    valid_candidates = top_candidates(
        union_order(valid_sources, valid_targets.histories, quotas), CANDIDATES
    )
    valid_table = movielens_features(valid_stats, valid_targets, valid_candidates, valid_sources)
    exclude = seen_items(temporal, "valid")
    for name, scores in valid_sources.items():
        ndcg = ndcg_at_k(target_ranks(scores, valid_targets.items, exclude), 10)
        print(f"validation NDCG@10 {name:12s} {ndcg:.4f}", flush=True)
    for label, (trees, leaves, min_child) in RANKERS.items():
        model = LambdaMART(
            n_estimators=trees, num_leaves=leaves, min_child_samples=min_child, seed=SEED
        ).fit(x, y, fit_table.names)
        scores = full_catalogue_scores(
            valid_table.candidates, model.predict(valid_table.values), n_items
        )
        ndcg = ndcg_at_k(target_ranks(scores, valid_targets.items, exclude), 10)
        print(f"validation NDCG@10 LambdaMART {label} ({len(x)} lists) {ndcg:.4f}", flush=True)
    print(f"cpu {time.process_time() - started:.0f} s")


if __name__ == "__main__":
    main()
