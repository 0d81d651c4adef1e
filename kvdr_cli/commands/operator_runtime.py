"""The operator's runtime for a command: kvdr's :class:`~kvdr.services.Runtime` from
``--config`` and ``--state-dir``, its Azure credential checked before any vault is called, and
the commands' logging. Shared by every command that talks to the vaults; it needs neither the
durable engine nor the function app (``kvdr status`` uses it alone).
"""

from __future__ import annotations

import argparse
import logging
import sys

from kvdr.errors import ConfigError
from kvdr.services import Runtime, local_runtime
from kvdr.vault.credentials import check_credential


def setup_logging() -> None:
    """Warnings and errors on stderr; stdout stays for the report (and ``--json``)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    # a credential that gets no token is reported once, as auth.failed (open_runtime), not as
    # azure.identity's warning that lists every credential it tried over many lines
    logging.getLogger("azure.identity").setLevel(logging.ERROR)


def open_runtime(args: argparse.Namespace) -> Runtime:
    """The operator's runtime from ``--config`` and ``--state-dir``, its Azure credential
    checked before any vault is called; raises ``ConfigError`` or ``AuthError``."""
    return _credential_checked(local_runtime(args.config, args.state_dir))


def _credential_checked(runtime: Runtime) -> Runtime:
    try:
        check_credential(runtime.credential, tuple(r.vault_url for r in runtime.config.regions))
    except BaseException:
        runtime.close()
        raise
    return runtime


def open_runtime_for_targets(args: argparse.Namespace) -> Runtime:
    """:func:`open_runtime`, then every ``--target`` (``args.targets``) must be a configured
    region (checked first: bad input is reported before any credential is asked); raises
    ``ConfigError`` naming ``--target`` otherwise."""
    runtime = local_runtime(args.config, args.state_dir)
    regions = runtime.config.region_names
    unknown = [t for t in (args.targets or ()) if t not in regions]
    if unknown:
        runtime.close()
        raise ConfigError("--target", f"unknown region(s) {', '.join(unknown)}; configured: "
                                      f"{', '.join(regions)}")
    return _credential_checked(runtime)
