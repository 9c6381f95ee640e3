"""System checks for the ledger's witness (``manage.py check --deploy``)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def ledger_witness_key(app_configs=None, **kwargs):
    """A deployment without the signing key has no witness: a chain rewritten
    inside the database with every hash recomputed would go unnoticed."""
    from custody.services.witness import WitnessKeyError, signing_key_load

    if not settings.LEDGER_SIGNING_KEY_FILE:
        if settings.LEDGER_WITNESS_TRUSTED_KEYS:
            return []  # a process that only verifies (web, say): public keys suffice
        return [
            checks.Warning(
                "LEDGER_SIGNING_KEY_FILE is not set: ledger chain heads are not witnessed "
                "outside the database.",
                hint="python manage.py create_ledger_signing_key PATH, then set "
                "LEDGER_SIGNING_KEY_FILE=PATH for the worker (and web, or give web the "
                "public key in LEDGER_WITNESS_TRUSTED_KEYS).",
                id="custody.W001",
            )
        ]
    try:
        signing_key_load()
    except WitnessKeyError as exc:
        return [
            checks.Error(
                f"The ledger signing key cannot be used: {exc}",
                hint="Point LEDGER_SIGNING_KEY_FILE at a PEM Ed25519 private key this "
                "process can read.",
                id="custody.E001",
            )
        ]
    return []
