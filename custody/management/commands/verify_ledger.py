"""Recomputes each facility's ledger chain and names the first broken link.

Meant for cron and for auditors at the console: one line per facility, exit
status 1 when any chain is broken or a witness line is refused. Each chain is
read in chunks, so memory stays flat however long the ledger grows.

Every chain is also checked against the heads signed outside the database: the
facility's file under ``LEDGER_WITNESS_DIR`` by default, or the files given
with ``--witness`` (an off-site copy, say), so a chain rewritten with every
hash recomputed is still named broken at the first witnessed seq it changed.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from custody import selectors
from custody.models import Facility
from custody.services.witness import ledger_verify_witnessed


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
        parser.add_argument(
            "--witness",
            action="append",
            dest="witness_files",
            metavar="FILE",
            help=(
                "Witness file (JSON lines of signed heads) to check the chains against; "
                "repeat for several. The facility's file in LEDGER_WITNESS_DIR by default."
            ),
        )

    def handle(self, *args, codes=None, witness_files=None, **options):
        broken = 0
        for facility in facilities_get(codes):
            result = ledger_verify_witnessed(facility=facility, witness_files=witness_files)
            if result.ok:
                line = ngettext(
                    "%(code)s: ok, %(events)s event, head %(head)s",
                    "%(code)s: ok, %(events)s events, head %(head)s",
                    result.events,
                ) % {"code": facility.code, "events": result.events, "head": result.head}
                if result.witness_lines:
                    line += ngettext(
                        ", %(n)s witnessed head holds",
                        ", %(n)s witnessed heads hold",
                        result.witness_lines,
                    ) % {"n": result.witness_lines}
                self.stdout.write(self.style.SUCCESS(line))
            else:
                broken += 1
                line = _("%(code)s: BROKEN at seq %(seq)s: %(problem)s") % {
                    "code": facility.code,
                    "seq": result.first_bad_seq,
                    "problem": result.problem,
                }
                if result.witnessed_seq is not None:
                    line += _(" (witnessed head at seq %(seq)s)") % {"seq": result.witnessed_seq}
                self.stdout.write(self.style.ERROR(line))
            if result.untrusted_lines:
                # Someone wrote into the witness: as bad as a broken chain.
                broken += 1 if result.ok else 0
                self.stdout.write(
                    self.style.ERROR(
                        ngettext(
                            "%(code)s: %(n)s witness line refused (bad signature or unknown key)",
                            "%(code)s: %(n)s witness lines refused (bad signature or unknown key)",
                            result.untrusted_lines,
                        )
                        % {"code": facility.code, "n": result.untrusted_lines}
                    )
                )
            self.stdout.flush()
        if broken:
            raise CommandError(
                ngettext(
                    "%(n)s ledger chain is broken or its witness refused.",
                    "%(n)s ledger chains are broken or their witness refused.",
                    broken,
                )
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
