"""`kvdr` subcommands, one module each; every module exposes ``main(argv) -> int``.

Shared here: the ``--config``/``--state-dir`` options, how a configuration error is shown
(the setting and the message, exit code 2), how failing Azure credentials are (one line, exit
code 4) and how a run interrupted by Ctrl-C ends (130).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from kvdr.errors import AuthError, ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_AUTH = 4  # no Azure credential could get a token for the vaults (auth.failed)
EXIT_INTERRUPTED = 130
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


def auth_error(exc: AuthError) -> int:
    print(f"kvdr: authentication failed: {exc.message} [{exc.code}]", file=sys.stderr)
    return EXIT_AUTH


def refused(exc: ConfigError | AuthError) -> int:
    """How a run that could not open its runtime ends: exit 2 (configuration) or 4 (credential)."""
    return auth_error(exc) if isinstance(exc, AuthError) else config_error(exc)


def _first_interrupt(signum: int, frame: object) -> None:
    # from the first Ctrl-C on, the run is stopping: a second one must not interrupt the
    # stopping itself (and print a traceback from wherever it lands)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def arm_interrupt() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` once; further ones are ignored (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _first_interrupt)


def interrupted(message: str) -> NoReturn:
    """End an interrupted run now, with exit code 130, after saying how it resumes.

    The engine's checkpoint is what resumes; activities still running are abandoned exactly as
    a crash abandons them (they run again on resume, decision 5). Waiting for them instead
    would keep the process alive for minutes in the interpreter's join of their threads — where
    a second Ctrl-C ends in a traceback — so leave without running exit handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(message, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_INTERRUPTED)
