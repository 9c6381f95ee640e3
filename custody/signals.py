"""Signals custody sends for other apps to act on; custody imports none of them."""

from django.dispatch import Signal

# A verification found a chain broken (or its witness written into): sent with
# ``facility`` and ``verification`` (a ``LedgerVerification``). The alerts app
# opens its ``ledger_broken`` alert on it.
ledger_found_broken = Signal()

# Round checks reported someone who needs attention, or whose view was
# obstructed: sent on commit with ``facility``, ``observation_ids`` and ``now``.
# The alerts app opens round_attention at once, not at the next pass (which
# reads the same observations again, should this signal be lost).
round_attention_observed = Signal()
