"""Renewal and rotation follow the primary (decision 9): what a lifetime action is, how a copy's
renewal is disarmed and re-armed (``policy``), and where kvdr keeps the armed form of a policy it
disarmed (``ledger``)."""
