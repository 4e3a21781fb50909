"""Write the JSON Schema of scenario files, for editors (``# yaml-language-server: $schema=...``).

Without ``-o`` the schema goes to standard output. ``scenarios/schema.json`` is this output, committed.
"""

from __future__ import annotations

import argparse
import sys

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def main(args: argparse.Namespace) -> int:
    from loadtest.errors import InvalidInput
    from loadtest.scenario.schema import schema_text

    text = schema_text()
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InvalidInput(f"cannot write {args.output}: {exc.strerror}") from None
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return exitcodes.OK
