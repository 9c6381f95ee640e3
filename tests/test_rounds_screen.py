"""The tablet rounds screen (custody.pages.rounds): cells by urgency, in
coarse steps, never the time a check falls due nor a tag's uid."""

from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from custody.models import Location
from custody.selectors.round_screen import round_screen
from tests import factories
from tests.rounds_report_world import rounds_world

NOW = timezone.now().replace(microsecond=0)


def signed_in(user, language="es") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@time_machine.travel(NOW, tick=False)
def test_the_screen_lists_cells_by_urgency_and_a_close_watch_first(facility, make_user):
    world = rounds_world(facility, make_user)
    due = {"C1": 50, "C2": -2, "C3": 12}
    for code, minutes in due.items():
        Location.objects.filter(pk=world.cells[code].pk).update(
            next_round_due_at=NOW + timedelta(minutes=minutes)
        )
    person = factories.InmateFactory(facility=facility, cell=world.cells["C1"])
    cells = round_screen(unit=world.unit, now=NOW)
    # The core's order puts occupied cells first; then the most urgent.
    assert [(c.code, c.due_within) for c in cells] == [("C1", 60), ("C2", 0), ("C3", 15)]
    assert [p.booking_number for p in cells[0].people] == [person.booking_number]

    html = signed_in(world.users["g1"]).get(f"/counts/rounds/{world.unit.pk}/").content.decode()
    assert html.index('id="cell-C1"') < html.index('id="cell-C2"') < html.index('id="cell-C3"')
    assert "En 15 minutos" in html and "Pendiente ahora" in html
    # Nothing that would let a guard predict the round or scan from a desk.
    due_at = (NOW + timedelta(minutes=12)).astimezone(facility.tzinfo)
    assert due_at.strftime("%H:%M") not in html
    assert "QRC1" not in html and "QRC3" not in html


def test_auditors_make_no_rounds_and_other_units_do_not_exist(facility, make_user, other_facility):
    world = rounds_world(facility, make_user)
    url = f"/counts/rounds/{world.unit.pk}/"
    assert signed_in(world.users["auditor"]).get(url).status_code == 403
    assert signed_in(world.users["auditor"]).get("/counts/rounds/").status_code == 403
    outsider = make_user("guard", other_facility)
    assert signed_in(outsider).get(url).status_code == 404
    board = signed_in(world.users["g1"]).get("/counts/rounds/")
    assert board.status_code == 200 and 'data-unit="U"' in board.content.decode()
