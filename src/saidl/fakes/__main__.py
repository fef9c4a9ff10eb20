"""``python -m saidl.fakes <asset> --root DIR [--stamp JSON]``: make one rehearsal fake."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from saidl.common.cli import exit_code
from saidl.common.io import write_json
from saidl.fakes import ASSETS, make


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("asset", help=f"one of: {', '.join(sorted(ASSETS))}")
    ap.add_argument("--root", type=Path, default=Path("data/rehearsal"))
    ap.add_argument("--stamp", type=Path, default=None, help="JSON written last, listing what was made")

    args = ap.parse_args(argv)

    def action():
        t0 = time.perf_counter()
        made = make(args.asset, args.root)
        info = {"asset": args.asset, "root": str(args.root), "fake": True, "seconds": round(time.perf_counter() - t0, 2),
                **made}
        print(info)
        if args.stamp is not None:
            write_json(args.stamp, info)

    return exit_code(action)


if __name__ == "__main__":
    sys.exit(main())
