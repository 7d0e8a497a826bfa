"""The command line: ``fairaudit demo`` and ``fairaudit --version``."""

from __future__ import annotations

import argparse
import sys

from fairaudit import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fairaudit",
        description="Audit machine-learning models for group fairness.",
        epilog="Example: fairaudit demo --out reports/demo",
    )
    parser.add_argument("--version", action="version", version=f"fairaudit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="audit a model on the bundled bank-marketing data")
    demo.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fairaudit.demo import run_demo

        print("Training a subscription model on bank_marketing and auditing it ...", file=sys.stderr)
        result, path = run_demo(args.out)
        print(result)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
