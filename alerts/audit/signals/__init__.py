"""Integrity signals: the traces corruption leaves in the custody record.

``integrity_report(facility=..., period=...)`` answers an ``IntegrityReport``
whose ``signals`` each say what they look for and where their threshold lies,
whether they fired, and the rows behind it with links to the records. One
small module per family of signals; thresholds are module constants that
``settings.INTEGRITY_SIGNALS`` may override by name.
"""

from alerts.audit.signals.base import Column, IntegrityReport, Link, Row, Signal
from alerts.audit.signals.report import SIGNALS, integrity_report

__all__ = ["SIGNALS", "Column", "IntegrityReport", "Link", "Row", "Signal", "integrity_report"]
