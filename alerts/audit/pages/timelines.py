"""Timelines in the auditor workspace: a person's custody history, who was in
a place between two times, and what an officer did.

Thin: the selectors read (``alerts.audit.people``, ``alerts.audit.officers``,
``custody.selectors.location_occupancy``), ``timeline_rows`` says what each
row means, the templates show it.
"""

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alerts.audit import officers, timeline_rows
from alerts.audit.access import audit_page
from alerts.audit.exports import Report, Table, export_response
from alerts.audit.people import PERSON_TYPES, people_of, people_search, person_timeline
from alerts.audit.period import page_period
from custody.models import CheckInMethod, Location, LocationKind, MovementKind, Role
from custody.permissions import records_a_read
from custody.selectors import location_occupancy

PER_PAGE = 50
OFFICERS_PER_PAGE = 100
# Who was in a place: the last day unless asked (as the API).
LOCATION_DAYS = 1
EXPORT_CHUNK = 2000


def search_text(request) -> str:
    """What was typed in a search box: at most 100 characters, and never a
    NUL, which PostgreSQL refuses in a query (a 500 otherwise)."""
    return request.GET.get("q", "").replace("\x00", "").strip()[:100]


def _query(request, **changes) -> str:
    """This page's query string with ``changes`` (None drops a parameter)."""
    params = request.GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None:
            params[name] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _paged(request, items, per_page: int) -> dict:
    """The asked page of ``items`` and its page links, kept with the filters."""
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    links = [
        (number, None if number == page.paginator.ELLIPSIS else _query(request, page=number))
        for number in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
    ]
    return {"page": page, "page_links": links}


def _types(request, choices, context: dict) -> tuple | None:
    """The ``type`` filter (one type, or all of ``choices``), with the links
    to change it put in ``context``; None (and the error) when unknown."""
    chosen = request.GET.get("type") or None
    context["type_links"] = [(None, _("Everything"), _query(request, type=None, page=None))] + [
        (name, timeline_rows.TYPE_LABELS[name], _query(request, type=name, page=None))
        for name in choices
    ]
    context["type_chosen"] = chosen
    if chosen is not None and chosen not in choices:
        context["period_errors"] = {
            **context.get("period_errors", {}),
            "type": [_("Choose one of the types offered.")],
        }
        return None
    return (chosen,) if chosen else tuple(choices)


def _timeline_period(request, facility):
    """(period or None for all time, context, ok): the page's period, where
    ``?period=all`` asks for the whole history."""
    if request.GET.get("period") == "all":
        context = {
            "period": None,
            "period_errors": {},
            "keep_params": [("type", request.GET["type"])] if request.GET.get("type") else [],
            "period_since_input": "",
            "period_until_input": "",
            "all_time": True,
        }
        return None, context, True
    period, context = page_period(request, facility, keep=("type",))
    return period, context, period is not None


def _lines(facility, rows) -> list:
    """Rows as ``Line``s, with links to this facility's places and officers
    (two queries a page)."""
    lines = [timeline_rows.read(row, facility_code=facility.code) for row in rows]
    codes = {line.place for line in lines if line.place and line.facility == facility.code}
    places = dict(
        Location.objects.filter(facility=facility, code__in=codes).values_list("code", "pk")
    )
    names = {username for line in lines for _role, username in line.people}
    linked = set(
        officers.facility_officers(facility)
        .filter(username__in=names)
        .values_list("username", flat=True)
    )
    for line in lines:
        if line.place_id is None and line.facility == facility.code:
            line.place_id = places.get(line.place)
        line.links = [(role, name, name in linked) for role, name in line.people]
    return lines


@require_GET
@audit_page
def people(request, facility):
    query = search_text(request)
    found = people_search(facility=facility, query=query)
    context = {"facility": facility, "query": query, **_paged(request, found, PER_PAGE)}
    return render(request, "audit/people.html", context)


def _person_filters(request, facility, booking_number):
    """(person, timeline or None when the filters are bad, page context)."""
    person = get_object_or_404(
        people_of(facility).select_related("facility", "cell"), booking_number=booking_number
    )
    period, context, ok = _timeline_period(request, facility)
    types = _types(request, PERSON_TYPES, context)
    context.update(facility=facility, person=person, period_types=types)
    if person.cell_id and person.cell.facility_id == facility.pk:
        context["cell_link"] = person.cell_id
    if not ok or types is None:
        return person, None, context
    timeline = person_timeline(
        inmate=person,
        user=request.user,
        since=period.since if period else None,
        until=period.until if period else None,
        types=types,
    )
    return person, timeline, context


@require_GET
@audit_page
def inmate(request, facility, booking_number):
    _person, timeline, context = _person_filters(request, facility, booking_number)
    if timeline is None:
        return render(request, "audit/inmate.html", context, status=400)
    paged = _paged(request, timeline, PER_PAGE)
    context.update(
        paged,
        lines=_lines(facility, paged["page"].object_list),
        all_link=_query(request, period="all", since=None, until=None, page=None),
        recent_link=_query(request, period=None, since=None, until=None, page=None),
        export_query=_query(request, page=None),
    )
    return render(request, "audit/inmate.html", context)


@records_a_read
@require_POST
@audit_page
def inmate_export(request, facility, booking_number, fmt):
    person, timeline, context = _person_filters(request, facility, booking_number)
    if timeline is None:
        return render(request, "audit/inmate.html", context, status=400)
    period, types = context["period"], context["period_types"]
    rows = [
        _export_row(timeline_rows.read(row, facility_code=facility.code))
        for chunk in timeline.chunks(EXPORT_CHUNK)
        for row in chunk
    ]
    notes = [_("The whole history, from the first record.")] if period is None else []
    if len(types) == 1:
        notes.append(_("Only: %(type)s.") % {"type": timeline_rows.TYPE_LABELS[types[0]]})
    report = Report(
        kind="inmate_history",
        subject=f"inmate:{person.booking_number}",
        title=_("Custody history of %(name)s (%(booking)s)")
        % {"name": person.full_name, "booking": person.booking_number},
        facility=facility,
        period=period,
        tables=[Table(title=_("Timeline"), columns=export_columns(), rows=rows)],
        notes=notes,
    )
    return export_response(
        report, fmt=fmt, by=request.user, filename=f"history-{person.booking_number}"
    )


def export_columns() -> list[str]:
    return [
        _("Time"),
        _("Type"),
        _("Id"),
        _("Facility"),
        _("Place"),
        _("What"),
        _("Flags"),
        _("Who"),
    ]


def _export_row(line) -> list:
    return [
        line.at.isoformat(timespec="seconds"),
        line.type_label,
        line.id,
        line.facility,
        line.place or "",
        line.what,
        ", ".join(line.flags),
        line.who,
    ]


@require_GET
@audit_page
def locations(request, facility):
    """The facility's places as a tree: units, what lies inside them."""
    places = list(Location.objects.filter(facility=facility).order_by("code"))
    by_id = {place.pk: place for place in places}
    tops = []
    for place in places:
        place.inside = []
    for place in places:
        parent = by_id.get(place.parent_id)
        (parent.inside if parent else tops).append(place)
    return render(request, "audit/locations.html", {"facility": facility, "tops": tops})


@require_GET
@audit_page
def location(request, facility, pk):
    place = get_object_or_404(
        Location.objects.select_related("facility", "parent"), pk=pk, facility=facility
    )
    period, context = page_period(request, facility, default_days=LOCATION_DAYS)
    context.update(facility=facility, place=place)
    if period is None:
        return render(request, "audit/location.html", context, status=400)
    occupancy = location_occupancy(location=place, since=period.since, until=period.until)
    kinds, methods = dict(MovementKind.choices), dict(CheckInMethod.choices)
    context.update(
        occupancy=occupancy,
        # (stay, what put them there, what took them out), in words.
        stays=[
            (stay, kinds.get(stay.started_by_kind, ""), kinds.get(stay.ended_by_kind, ""))
            for stay in occupancy.stays
        ],
        seen=[
            (
                sighting,
                ", ".join(f"{methods.get(m, m)} {n}" for m, n in sighting.methods.items()),
            )
            for sighting in occupancy.sightings
        ],
        children=Location.objects.filter(parent=place).order_by("code"),
        unassigned=[s for s in occupancy.sightings if not s.assigned],
        is_cell=place.kind == LocationKind.CELL,
    )
    return render(request, "audit/location.html", context)


@require_GET
@audit_page
def officers_page(request, facility):
    period, context = page_period(request, facility, keep=("q",))
    query = search_text(request)
    context.update(facility=facility, query=query)
    if period is None:
        return render(request, "audit/officers.html", context, status=400)
    people = officers.facility_officers(facility)
    if query:
        people = people.filter(
            Q(username__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    paged = _paged(request, people, OFFICERS_PER_PAGE)
    page_officers = list(paged["page"].object_list)
    totals = officers.officer_totals(
        facility=facility, period=period, officer_ids=[o.pk for o in page_officers]
    )
    context.update(
        paged,
        rows=[
            (
                officer,
                Role(officer.role_name).label,
                totals[officer.pk],
                timeline_rows.duration(totals[officer.pk].acknowledge_time),
            )
            for officer in page_officers
        ],
        period_query=_query(request, page=None, q=None),
    )
    return render(request, "audit/officers.html", context)


@require_GET
@audit_page
def officer(request, facility, username):
    person = get_object_or_404(officers.facility_officers(facility), username=username)
    period, context = page_period(request, facility, keep=("type",))
    types = _types(request, officers.ACTIVITY_TYPES, context)
    context.update(facility=facility, officer=person)
    if period is None or types is None:
        return render(request, "audit/officer.html", context, status=400)
    timeline = officers.officer_activity(
        facility=facility, officer=person, period=period, types=types
    )
    paged = _paged(request, timeline, PER_PAGE)
    totals = officers.officer_summary(facility=facility, officer=person, period=period)
    context.update(
        paged,
        totals=totals,
        role=Role(person.role_name).label,
        acknowledge_wait=timeline_rows.duration(totals.acknowledge_time),
        lines=_lines(facility, paged["page"].object_list),
    )
    return render(request, "audit/officer.html", context)


urlpatterns = [
    path("people/", people, name="audit-people"),
    path("people/<str:booking_number>/", inmate, name="audit-inmate"),
    path(
        "people/<str:booking_number>/export.<export:fmt>",
        inmate_export,
        name="audit-inmate-export",
    ),
    path("locations/", locations, name="audit-locations"),
    path("locations/<int:pk>/", location, name="audit-location"),
    path("officers/", officers_page, name="audit-officers"),
    path("officers/<str:username>/", officer, name="audit-officer"),
]
