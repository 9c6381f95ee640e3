"""What the embedded SQLite database (``make run`` with nothing set) lacks
and the workspace's reports use: PostgreSQL's ``percentile_cont``.

Registered on every new SQLite connection; PostgreSQL has it built in.
"""

import math


class PercentileCont:
    """``percentile_cont(value, fraction)``: the interpolated percentile of the
    non-null values, as PostgreSQL computes it."""

    def __init__(self):
        self.values = []
        self.fraction = None

    def step(self, value, fraction):
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self):
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = self.fraction * (len(ordered) - 1)
        below, above = math.floor(position), math.ceil(position)
        return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def register(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("PERCENTILE_CONT", 2, PercentileCont)
