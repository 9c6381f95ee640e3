"""The auditor workspace: custody timelines, the ledger's integrity, the
integrity signals report, charts and exports.

It lives in ``alerts`` because it reads both the custody record and the alerts
raised on it, and ``custody`` never imports ``alerts``. Everything here reads;
the only thing it writes is the ledger event that records an export.
"""
