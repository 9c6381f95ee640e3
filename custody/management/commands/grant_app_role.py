"""Creates or updates the app's database role and re-applies exactly its
grants (custody.services.db_roles). Run it with the owner's DATABASE_URL
after every ``migrate``: ``python manage.py grant_app_role custody_app``."""

import os

from django.core.management.base import BaseCommand, CommandError

from custody.services import db_roles


class Command(BaseCommand):
    help = (
        "Create or update the app's database role (web, worker, beat) and re-apply exactly "
        "its grants. Run as the owner role, after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="The app role, e.g. custody_app.")
        password = parser.add_mutually_exclusive_group()
        password.add_argument(
            "--password-file", help="Set the role's password from this file (first line)."
        )
        password.add_argument(
            "--password-env", metavar="VAR", help="Set the role's password from this variable."
        )

    def handle(self, *args, role: str, password_file, password_env, **options):
        password = read_password(password_file, password_env)
        try:
            grants = db_roles.app_role_grant(role=role, password=password)
        except db_roles.RoleError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] < 1:
            return
        done = "created" if grants.created else "updated" if grants.altered else "checked"
        self.stdout.write(self.style.SUCCESS(f"Role {role} {done}; grants applied:"))
        for label, tables in (
            ("SELECT, INSERT (append-only)", grants.append_only),
            ("SELECT, INSERT, UPDATE (never deleted)", grants.guarded),
            ("SELECT, INSERT, UPDATE, DELETE", grants.mutable),
            ("SELECT", grants.read_only),
        ):
            self.stdout.write(f"  {label}: {len(tables)} tables")
            if options["verbosity"] > 1:
                self.stdout.write("    " + ", ".join(tables))
        self.stdout.write(f"  EXECUTE: {', '.join(grants.functions) or 'none'}")


def read_password(path: str | None, variable: str | None) -> str | None:
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                password = file.readline().rstrip("\r\n")
        except OSError as exc:
            raise CommandError(f"Cannot read the password file: {exc}") from exc
    elif variable:
        password = os.environ.get(variable, "")
    else:
        return None
    if not password:
        raise CommandError("The password given is empty.")
    return password
