"""``python -m loadtest.emulator [flags]``: the same as ``loadtest emulate [flags]``."""

from __future__ import annotations

import argparse
import sys

from loadtest.emulator import command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.emulator", description=command.__doc__)
    command.add_arguments(parser)
    return command.main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
