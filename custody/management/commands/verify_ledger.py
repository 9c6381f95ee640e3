"""Recomputes each facility's ledger chain and names the first broken link.

Meant for cron and for auditors at the console: one line per facility, exit
status 1 when any chain is broken. Each chain is read in chunks, so memory
stays flat however long the ledger grows.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from custody import selectors, services
from custody.models import Facility


class Command(BaseCommand):
    help = "Verify the hash chain of each facility's custody ledger."

    def add_arguments(self, parser):
        parser.add_argument(
            "--facility",
            action="append",
            dest="codes",
            metavar="CODE",
            help="Facility code; repeat for several. All facilities by default.",
        )

    def handle(self, *args, codes=None, **options):
        broken = 0
        for facility in facilities_get(codes):
            result = services.ledger_verify(facility=facility)
            if result.ok:
                line = ngettext(
                    "%(code)s: ok, %(events)s event, head %(head)s",
                    "%(code)s: ok, %(events)s events, head %(head)s",
                    result.events,
                ) % {"code": facility.code, "events": result.events, "head": result.head}
                self.stdout.write(self.style.SUCCESS(line))
            else:
                broken += 1
                line = _("%(code)s: BROKEN at seq %(seq)s: %(problem)s") % {
                    "code": facility.code,
                    "seq": result.first_bad_seq,
                    "problem": result.problem,
                }
                self.stdout.write(self.style.ERROR(line))
            self.stdout.flush()
        if broken:
            raise CommandError(
                ngettext("%(n)s ledger chain is broken.", "%(n)s ledger chains are broken.", broken)
                % {"n": broken},
                returncode=1,
            )


def facilities_get(codes: list[str] | None):
    if not codes:
        # A hundred facilities at most: a list, so no cursor stays open meanwhile.
        # The national chain (accounts with no facility) is one of them.
        return selectors.ledger_chain_owners()
    found = {f.code: f for f in Facility.chain_owners.filter(code__in=codes)}
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise CommandError(_("Unknown facility: %(codes)s.") % {"codes": ", ".join(unknown)})
    return [found[code] for code in dict.fromkeys(codes)]
