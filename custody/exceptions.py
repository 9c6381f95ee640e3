"""Errors the custody services raise besides Django's ValidationError and
PermissionDenied; ``config.errors`` turns them into HTTP answers."""


class Conflict(Exception):
    """The request is well-formed but the record's current state forbids it
    (an illegal movement transition, a step already taken): HTTP 409."""

    def __init__(self, message: str, **data):
        super().__init__(message)
        self.message = message
        # Named facts the client can act on (the count a movement waits for).
        self.data = data
