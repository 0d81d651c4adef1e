"""`kvdr` subcommands, one module each; every module exposes ``main(argv) -> int``.

Shared here: the ``--config``/``--state-dir`` options and how a configuration error is shown
(the setting and the message, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvdr.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
DEFAULT_STATE_DIR = ".kvdr"


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="kvdr.toml", metavar="FILE",
                        help="the kvdr.toml to use (default: ./kvdr.toml)")
    parser.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR),
                        metavar="DIR",
                        help="local state: the engine's checkpoints (DIR/engine) and the "
                             "state store (DIR/state); default ./.kvdr")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def config_error(exc: ConfigError) -> int:
    # the message already starts with the setting's name
    print(f"kvdr: configuration error in {exc.message} [{exc.code}]", file=sys.stderr)
    return EXIT_CONFIG
