"""Impressions per CPU second of :class:`ecomrec.environment.ShopEnvironment`, per policy.

Lesson 08's setting on one thread (``fix_threads(1)``): the shipped ShopSim world, slates of
10, every user for 14 simulated days with a fixed seed, the lesson 01 baselines fitted on the
whole log as policies (plus random, the oracle and the lesson's popularity-vs-co-occurrence A/B
test). CPU time is ``time.process_time`` of ``env.run`` only (fitting is not counted); each run
is repeated ``--repeats`` times and the best is kept (the machine may be busy).

Run ``PYTHONPATH=. python benchmarks/environment_speed.py [--days 14] [--repeats 3]``.
Measured, never asserted: tests do not check speed.
"""

from __future__ import annotations

import argparse
import json
import time

from ecomrec.training import fix_threads

fix_threads(1)

import numpy as np  # noqa: E402

from ecomrec.baselines import ItemCooccurrence, Markov, Popularity, SessionSwitch  # noqa: E402
from ecomrec.datasets import load_shopsim  # noqa: E402
from ecomrec.environment import (  # noqa: E402
    OraclePolicy,
    RandomPolicy,
    RecommenderPolicy,
    ShopEnvironment,
)
from ecomrec.experiments import hash_assign  # noqa: E402

SEED = 2026


def measure(days: int = 14, repeats: int = 3) -> list[tuple[str, int, float]]:
    """(policy, impressions, best CPU seconds of ``env.run``) for each policy."""
    data = load_shopsim()
    env = ShopEnvironment(data, slate_size=10)
    views = data.interactions
    models = {
        "popularity": Popularity(),
        "co-occurrence": ItemCooccurrence(),
        "Markov": Markov(),
        "switch": SessionSwitch(ItemCooccurrence(), Markov()),
    }
    policies = {
        name: RecommenderPolicy(model.fit(views, data.n_items, data.n_users), name)
        for name, model in models.items()
    }
    arms = hash_assign(np.arange(data.n_users), "lesson08-popularity-vs-cooccurrence")
    runs = {name: (lambda p=policy: env.run(p, days=days, seed=SEED + 1))
            for name, policy in policies.items()}  # fmt: skip
    runs["random"] = lambda: env.run(RandomPolicy(data.n_items, seed=SEED), days=days,
                                     seed=SEED + 1)  # fmt: skip
    runs["oracle"] = lambda: env.run(OraclePolicy(), days=days, seed=SEED + 1)
    runs["A/B popularity vs co-occurrence"] = lambda: env.run(
        [policies["popularity"], policies["co-occurrence"]], assignment=arms, days=days,
        seed=SEED,
    )  # fmt: skip
    rows = []
    for name, run in runs.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            log = run()
            best = min(best, time.process_time() - start)
        rows.append((name, len(log), best))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (make bench)")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.days, args.repeats)))
        return
    print(f"ShopEnvironment, {args.days} days, every user, one thread, best of {args.repeats}")
    print(f"{'policy':<34} {'impressions':>11} {'CPU s':>7} {'impressions / CPU s':>20}")
    for name, impressions, best in measure(args.days, args.repeats):
        print(f"{name:<34} {impressions:>11,} {best:>7.2f} {impressions / best:>20,.0f}")


if __name__ == "__main__":
    main()
