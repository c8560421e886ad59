"""Command line: `python -m ecomrec.datasets generate --seed N --out DIR` and `verify [DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecomrec.datasets.shopsim import SHIPPED_DIR, SHIPPED_SEED, DatasetError, generate, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecomrec.datasets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="simulate ShopSim and write its files")
    gen.add_argument(
        "--seed",
        type=int,
        default=SHIPPED_SEED,
        help=f"random seed (the shipped files use {SHIPPED_SEED})",
    )
    gen.add_argument("--out", type=Path, default=SHIPPED_DIR, help="output folder")
    ver = sub.add_parser("verify", help="check a ShopSim folder against its manifest")
    ver.add_argument("path", type=Path, nargs="?", default=SHIPPED_DIR)
    args = parser.parse_args(argv)

    if args.command == "generate":
        manifest = generate(seed=args.seed, out=args.out, progress=True)
        total = sum(f["bytes"] for f in manifest["files"].values())
        for name, meta in sorted(manifest["files"].items()):
            print(f"{name:28s} {meta['rows']:>8d} rows {meta['bytes'] / 1e3:>9.1f} kB")
        print(f"ShopSim seed {args.seed} written to {args.out} ({total / 1e6:.2f} MB)")
        return 0
    try:
        manifest = verify(args.path)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"{args.path}: {len(manifest['files'])} files match manifest.json (seed {manifest['seed']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
