"""Writes a new Ed25519 key for signing the ledger's chain heads (the witness).

    python manage.py create_ledger_signing_key /run/secrets/ledger-signing-key.pem

The file is created readable by its owner only and never overwrites one that
exists. Keep it outside the database and its backups; give auditors the public
key printed here, which is what verifies every witness line it signs.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from custody.services.witness import signing_key_create


class Command(BaseCommand):
    help = "Create the Ed25519 key that signs the ledger's chain heads; prints its public key."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Where to write the PEM private key (must not exist).")

    def handle(self, *args, path, **options):
        try:
            public_key = signing_key_create(path)
        except FileExistsError as exc:
            raise CommandError(
                _("%(path)s exists; a signing key is never overwritten.") % {"path": path}
            ) from exc
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(public_key)
        self.stderr.write(
            _(
                "Set LEDGER_SIGNING_KEY_FILE=%(path)s for worker, beat and web; the line above "
                "is the public key auditors verify witness lines with."
            )
            % {"path": path}
        )
