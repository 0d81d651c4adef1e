"""`kvdr status`: replication status per vault pair, from the vaults' topology records and
the local state store (the last full sync, the event counters, the last drill, failover and
restore).
Renewal (per pair: issuers missing or different, keys whose versions diverged, items the last
sync could not disarm or arm; the last failover's hand-over) comes from those records: status
reads no policy. ``--json`` carries the same, as ``pairs[].renewal`` and
``last_failover.renewal``; the last restore (outcome, as-of, counts, when) as ``last_restore``.

Exit codes (usable as a monitoring probe): 0 healthy; 1 a problem is listed (a vault did not
answer, the topology records disagree — split brain, a stale or missing record — a pair is
over its RPO or its lag is unknown, or the last sync's renewal step failed for an item); 2 the
configuration is invalid; 4 no Azure credential can get a token.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from kvdr.errors import AuthError, ConfigError
from kvdr.status import build_status
from kvdr_cli.commands import EXIT_FAILED, EXIT_OK, add_common, refused
from kvdr_cli.commands.operator_runtime import open_runtime, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvdr status",
        description="Replication status per vault pair: primary, epoch, last full sync, last "
                    "event, events pending/failed, estimated lag, and renewal (issuers, "
                    "diverged keys, renewal failures, the last failover's hand-over), and the "
                    "last restore. Reads "
                    "the vaults' topology records and the local state directory; writes "
                    "nothing.",
        epilog="exit codes: 0 healthy; 1 a problem is listed (a vault did not answer, split "
               "brain, a stale or missing topology record, a pair over its RPO or with an "
               "unknown lag, an item the last sync's renewal step failed on); 2 bad usage or "
               "configuration; 4 no Azure credential can get a token")
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        runtime = open_runtime(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)
    try:
        status = build_status(runtime)
    finally:
        runtime.close()
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
    else:
        print(status.render_text())
    return EXIT_OK if status.healthy else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
