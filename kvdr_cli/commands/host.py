"""`kvdr host`: the function app on the local durable engine (`python -m engine host`), with
kvdr's runtime taken from a `kvdr.toml` instead of app settings when `--config` is given.

Without `--config` the app reads its `KVDR_*` app settings from the environment, as in Azure.
With it, the runtime is the local one (`--state-dir`/state for kvdr's state store,
`--state-dir`/engine for the engine's checkpoints), and the timer schedules come from the
file's `[schedules]` unless the environment already sets them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.__main__ import main as engine_main
from kvdr.config.schema import Config
from kvdr.errors import AuthError, ConfigError
from kvdr.services import configure
from kvdr_cli.commands import DEFAULT_STATE_DIR, refused
from kvdr_cli.commands.operator_runtime import open_runtime

SCHEDULE_SETTINGS = {"KVDR_FULL_SYNC_SCHEDULE": "full_sync", "KVDR_DRILL_SCHEDULE": "drill"}


def export_schedules(config: Config) -> None:
    """The timer triggers' ``%KVDR_*_SCHEDULE%`` resolve from app settings (the environment):
    take them from the configuration unless the environment already sets them."""
    for setting, field in SCHEDULE_SETTINGS.items():
        os.environ.setdefault(setting, getattr(config.schedules, field))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kvdr host", description=__doc__.split("\n\n")[0],
        epilog="Other options (--app, --port, --max-activities, -v) go to `python -m engine "
               "host`.")
    parser.add_argument("--config", metavar="FILE",
                        help="run with this kvdr.toml (default: app settings from the "
                             "environment, as in Azure)")
    parser.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR),
                        metavar="DIR", help="local state (DIR/engine, DIR/state); default ./.kvdr")
    args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))

    engine_args = ["host", "--state-dir", str(args.state_dir / "engine"), *rest]
    if args.config is None:
        return engine_main(engine_args)

    # the credential is checked before the host serves anything, as every verb does; a failure
    # is one auth.failed line, not azure.identity's warning listing every credential it tried
    identity = logging.getLogger("azure.identity")
    level = identity.level
    identity.setLevel(logging.ERROR)
    try:
        runtime = open_runtime(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)
    finally:
        identity.setLevel(level)
    export_schedules(runtime.config)
    configure(runtime)
    try:
        return engine_main(engine_args)
    finally:
        configure(None)
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
