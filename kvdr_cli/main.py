"""The `kvdr` command line. Each subcommand lives in its own module; this only dispatches."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial

# EX_SOFTWARE: kvdr itself failed (a bug), never the user's input or an Azure outage, which have
# their own codes (1-4, 130) and messages.
EXIT_INTERNAL = 70


# the command's entry point: its arguments (after the verb) in, its exit code out
Command = Callable[[Sequence[str]], int]

# Each verb's module is imported only when that verb runs: the commands load the durable engine,
# the function app and the Azure SDK (well over a second), none of which `kvdr --help` needs,
# and `kvdr status` needs neither the engine nor the app.


def _host(argv: Sequence[str]) -> int:
    from kvdr_cli.commands import host  # deferred: see above

    return host.main(argv)


def _sync(argv: Sequence[str]) -> int:
    from kvdr_cli.commands import sync  # deferred: see above

    return sync.main(argv)


def _failover(argv: Sequence[str], *, failback: bool = False) -> int:
    from kvdr_cli.commands import failover  # deferred: see above

    return failover.failback_main(argv) if failback else failover.main(argv)


def _drill(argv: Sequence[str]) -> int:
    from kvdr_cli.commands import drill  # deferred: see above

    return drill.main(argv)


def _restore(argv: Sequence[str]) -> int:
    from kvdr_cli.commands import restore  # deferred: see above

    return restore.main(argv)


def _status(argv: Sequence[str]) -> int:
    from kvdr_cli.commands import status  # deferred: see above

    return status.main(argv)


_COMMANDS: dict[str, tuple[str, Command]] = {
    "host": ("run the function app on the local durable engine (`kvdr host --config kvdr.toml`)",
             _host),
    "sync": ("run the full sync on the local engine and print its report", _sync),
    "status": ("replication status per vault pair", _status),
    "failover": ("make another region primary on the local engine (planned, or --unplanned "
                 "when the primary is down)", _failover),
    "failback": ("make the former primary primary again on the local engine",
                 partial(_failover, failback=True)),
    "drill": ("run the non-disruptive DR drill on the local engine and print its report",
              _drill),
    "restore": ("put the primary's secrets and certificates back as they were at a moment "
                "(`kvdr restore --as-of 2h`) on the local engine", _restore),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="kvdr", description="Disaster recovery for Azure Key Vault.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, _) in _COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in _COMMANDS:
        parser.error(f"unknown command {name!r}; choose from {', '.join(_COMMANDS)}")
    try:
        return _COMMANDS[name][1](rest)
    except KeyboardInterrupt:
        # commands with a checkpoint handle Ctrl-C themselves; the others just stop
        print(f"kvdr: 'kvdr {name}' interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _internal_error(name, exc)


def _internal_error(command: str, exc: Exception) -> int:
    """Last line of defence: an error no command handled is a kvdr bug. Say so in one line;
    the traceback only on request (``KVDR_DEBUG=1``). The exception's message is not printed:
    it is not ours to vouch for and could quote data."""
    if os.environ.get("KVDR_DEBUG") == "1":
        logging.getLogger("kvdr").exception("kvdr %s failed", command)
    print(f"kvdr: internal error in 'kvdr {command}' ({type(exc).__name__}): this is a bug in "
          "kvdr, not in your input; a run with a --state-dir resumes from its checkpoint. "
          "Set KVDR_DEBUG=1 to print the traceback, and report it", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
