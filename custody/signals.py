"""Signals custody sends for other apps to act on; custody imports none of them."""

from django.dispatch import Signal

# A verification found a chain broken (or its witness written into): sent with
# ``facility`` and ``verification`` (a ``LedgerVerification``). The alerts app
# opens its ``ledger_broken`` alert on it.
ledger_found_broken = Signal()

# Round checks reported someone who needs attention, or whose view was
# obstructed: sent on commit with ``facility``. The alerts app reconciles that
# facility at once, so its round_attention alert does not wait for beat.
round_attention_observed = Signal()
