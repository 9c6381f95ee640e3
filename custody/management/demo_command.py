"""The demo commands (``seed_demo``, ``seed_demo_alerts``, ``seed_demo_history``)
write fake people, known passwords and printed device keys: on a production
database that is a back door. They run only with ``DEBUG`` on (``make run``
sets it) or when told so in as many words."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

FLAG = "--demo-on-production"


class DemoCommand(BaseCommand):
    """A command that refuses to run with ``DEBUG`` off unless given ``FLAG``."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Here rather than in add_arguments, so a subclass's own arguments
        # need not remember to call super().
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            FLAG,
            action="store_true",
            dest="demo_on_production",
            help="Run although DEBUG is off: demo people, passwords and keys in this database.",
        )
        return parser

    def execute(self, *args, **options):
        if not settings.DEBUG and not options.get("demo_on_production"):
            raise CommandError(
                f"DEBUG is off: this looks like a production database, and this command "
                f"writes demo people, passwords and device keys. Run it with DEBUG=1 "
                f"(make run does), or add {FLAG} if you really mean it."
            )
        return super().execute(*args, **options)
