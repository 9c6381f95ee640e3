"""Issue 19: a month leaves the database only exported, verified and recorded
in the ledger, never while a legal hold or an open or recent alert needs it,
and an archive that fails half-way leaves every row where it was."""

import csv
import gzip
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection

from alerts.models import AlertStatus
from custody.models import CheckIn, LedgerEvent, QuarantinedCheckIn, Role
from custody.services.holds import hold_lift_approve, hold_lift_request, hold_place
from custody.services.retention import (
    ArchiveFailed,
    ArchiveRefused,
    archive_month,
    csv_rows,
    month_parse,
    retention_days,
)
from tests import factories

JANUARY = datetime(2024, 1, 1, tzinfo=UTC)
MONTH = month_parse("2024-01")
PARTITION = "custody_checkin_2024_01"


def partition_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"public.{PARTITION}"])
        return cursor.fetchone()[0] is not None


def month_rows() -> int:
    return CheckIn.objects.filter(
        observed_at__gte=JANUARY, observed_at__lt=datetime(2024, 2, 1, tzinfo=UTC)
    ).count()


def scans(facility, count: int, *, day: int = 10) -> list:
    inmate = factories.InmateFactory(facility=facility)
    return [
        factories.CheckInFactory(
            inmate=inmate, observed_at=JANUARY + timedelta(days=day - 1, minutes=i)
        )
        for i in range(count)
    ]


def quarantined(facility, count: int) -> None:
    for i in range(count):
        QuarantinedCheckIn.objects.create(
            received_at=JANUARY + timedelta(days=3, hours=i),
            facility=facility,
            reason="unknown_inmate",
            item_id=f'x"{i}\nline',  # a quote and a newline inside a CSV field
            errors={"booking_number": ["unknown"]},
            raw={"booking_number": f"B-{i}"},
            fingerprint=uuid.uuid4().hex,
        )


@pytest.fixture
def january(db):
    """A past month with its own partition, as beat would have made it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT custody_checkin_ensure_partitions(%s, 0, 0)", [JANUARY])
    return MONTH


def archive_events(facility, action="archive.exported"):
    return list(LedgerEvent.objects.filter(facility=facility, action=action).order_by("seq"))


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_whole_month_is_exported_verified_recorded_and_its_partition_dropped(
    january, facility, other_facility, tmp_path
):
    kept = {str(scan.id) for scan in scans(facility, 4) + scans(other_facility, 3)}
    quarantined(facility, 2)
    out = io.StringIO()

    call_command("archive_month", "2024-01", "--dir", str(tmp_path), stdout=out)

    assert not partition_exists()
    assert month_rows() == 0
    assert not QuarantinedCheckIn.objects.filter(received_at__lt=datetime(2024, 2, 1, tzinfo=UTC))
    files = {path.name.split("_2024_01")[0]: path for path in tmp_path.glob("*.csv.gz")}
    assert set(files) == {"custody_checkin", "custody_quarantinedcheckin", "alerts_notification"}
    with gzip.open(files["custody_checkin"], "rt", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {row["id"] for row in rows} == kept
    with gzip.open(files["custody_quarantinedcheckin"], "rt", newline="") as stream:
        assert [row["item_id"] for row in csv.DictReader(stream)] == ['x"0\nline', 'x"1\nline']
    # Each facility's chain records the file, its hash and its share of the rows.
    for each, share in ((facility, 4), (other_facility, 3)):
        event = next(e for e in archive_events(each) if e.data["kind"] == "checkins")
        assert event.data["sha256"] == sha256_of(files["custody_checkin"])
        assert event.data["rows"] == 7
        assert event.data["facility_rows"] == share
        assert event.data["file"] == files["custody_checkin"].name
    removed = [e.data for e in archive_events(facility, "archive.removed")]
    assert [(d["kind"], d["removed"]) for d in removed] == [
        ("notifications", 0),
        ("quarantine", 2),
    ]
    assert "partition custody_checkin_2024_01 detached and dropped" in out.getvalue()
    # Twice: there is nothing left to archive, and it says so.
    with pytest.raises(CommandError, match="no custody_checkin_2024_01"):
        call_command("archive_month", "2024-01", "--kind", "checkins", "--dir", str(tmp_path))


def test_a_legal_hold_refuses_the_month_naming_it_until_two_officers_lift_it(
    january, facility, make_user, tmp_path
):
    scans(facility, 3)
    supervisor = make_user(Role.SUPERVISOR, facility)
    hold = hold_place(
        facility=facility,
        by=supervisor,
        period_start=datetime(2024, 1, 28, tzinfo=UTC),
        period_end=datetime(2024, 2, 3, tzinfo=UTC),
        reason="Escape of 2024-02-01: keep the unit's logs",
    )

    with pytest.raises(CommandError, match=rf"legal hold #{hold.pk} .*Escape of 2024-02-01"):
        call_command("archive_month", "2024-01", "--dir", str(tmp_path))

    assert partition_exists() and month_rows() == 3
    assert list(tmp_path.iterdir()) == []
    assert not LedgerEvent.objects.filter(action__startswith="archive.").exists()
    # February is held too; December 2023 is not.
    with pytest.raises(ArchiveRefused):
        archive_month(month=month_parse("2024-02"), kinds=["quarantine"], directory=tmp_path)

    hold_lift_request(hold=hold, by=supervisor, reason="Investigation closed, case 12/2024")
    with pytest.raises(CommandError, match="legal hold"):
        call_command("archive_month", "2024-01", "--dir", str(tmp_path))
    hold_lift_approve(hold=hold, by=make_user(Role.ADMIN, facility))

    call_command("archive_month", "2024-01", "--kind", "checkins", "--dir", str(tmp_path))
    assert not partition_exists()


def test_an_open_or_recent_alert_holds_the_months_of_its_evidence(
    january, facility, make_user, tmp_path
):
    scans(facility, 2)
    # Opened in February: its evidence reaches back into January.
    alert = factories.AlertFactory(
        facility=facility,
        inmate=factories.InmateFactory(facility=facility),
        opened_at=datetime(2024, 2, 10, tzinfo=UTC),
    )
    # Resolved long ago: it holds nothing any more.
    factories.AlertFactory(
        facility=facility,
        opened_at=datetime(2024, 1, 5, tzinfo=UTC),
        status=AlertStatus.RESOLVED,
        resolved_at=datetime(2024, 1, 6, tzinfo=UTC),
        resolved_by=make_user(Role.SUPERVISOR, facility),
        resolution="Found in the infirmary",
    )

    with pytest.raises(ArchiveRefused) as refused:
        archive_month(month=MONTH, directory=tmp_path)

    assert [reason.split(",")[0] for reason in refused.value.reasons] == [
        f"{facility.code}: alert #{alert.pk} {alert.kind} ({alert.inmate.booking_number})"
    ]
    assert partition_exists() and month_rows() == 2
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_cannot_be_written_leaves_the_month_attached(january, facility, tmp_path):
    scans(facility, 3)
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the directory should be")

    with pytest.raises(CommandError, match=r"export .* failed"):
        call_command("archive_month", "2024-01", "--dir", str(blocked))

    assert partition_exists() and month_rows() == 3
    assert not LedgerEvent.objects.filter(action__startswith="archive.").exists()


def test_a_file_changed_before_its_verification_removes_nothing(january, facility, tmp_path):
    scans(facility, 3)
    quarantined(facility, 1)

    def tamper(path):
        with open(path, "ab") as stream:
            stream.write(b"\0")

    with pytest.raises(ArchiveFailed, match="does not hash to what was written"):
        archive_month(month=MONTH, directory=tmp_path, after_export=tamper)
    assert partition_exists() and month_rows() == 3
    assert [path.suffix for path in tmp_path.iterdir()] == [".failed"]

    def lose_a_row(path):
        # A file replaced by one with a row fewer.
        with gzip.open(path, "rb") as stream:
            lines = stream.read().splitlines(keepends=True)
        path.write_bytes(gzip.compress(b"".join(lines[:-1]), mtime=0))

    with pytest.raises(ArchiveFailed):
        archive_month(
            month=MONTH, kinds=["quarantine"], directory=tmp_path, after_export=lose_a_row
        )
    assert QuarantinedCheckIn.objects.count() == 1
    assert not LedgerEvent.objects.filter(action__startswith="archive.").exists()


def test_a_failure_between_export_and_detach_leaves_everything_in_place(
    january, facility, tmp_path
):
    scans(facility, 2)

    def killed(path):
        raise KeyboardInterrupt  # the operator's ^C, or a SIGTERM turned into one

    with pytest.raises(KeyboardInterrupt):
        archive_month(month=MONTH, kinds=["checkins"], directory=tmp_path, after_export=killed)

    assert partition_exists() and month_rows() == 2
    assert not LedgerEvent.objects.filter(action__startswith="archive.").exists()
    # The next run writes a new file beside the first, never over it.
    call_command("archive_month", "2024-01", "--kind", "checkins", "--dir", str(tmp_path))
    assert len(list(tmp_path.glob("custody_checkin_2024_01_*.csv.gz"))) >= 1
    assert not partition_exists()


def test_one_facility_is_archived_alone_then_the_rest_drops_the_partition(
    january, facility, other_facility, make_user, tmp_path
):
    scans(facility, 3)
    theirs = {str(scan.id) for scan in scans(other_facility, 2)}
    hold = hold_place(
        facility=other_facility,
        by=make_user(Role.SUPERVISOR, other_facility),
        period_start=datetime(2024, 1, 1, tzinfo=UTC),
        reason="Inquiry into the night shift",
    )

    done = archive_month(month=MONTH, facility=facility, kinds=["checkins"], directory=tmp_path)

    assert partition_exists()
    assert CheckIn.objects.filter(facility=facility).count() == 0
    assert set(map(str, CheckIn.objects.values_list("id", flat=True))) == theirs
    assert done[0].rows == 3 and done[0].removed == 3
    assert [e.data["scope"] for e in archive_events(facility)] == [facility.code]
    assert archive_events(other_facility) == []
    # The whole month waits for the other facility's hold, named.
    with pytest.raises(ArchiveRefused, match=f"legal hold #{hold.pk} "):
        archive_month(month=MONTH, kinds=["checkins"], directory=tmp_path)
    assert CheckIn.objects.count() == 2


def test_rows_are_deleted_in_batches_and_the_guard_is_back_afterwards(january, facility, tmp_path):
    quarantined(facility, 5)

    done = archive_month(month=MONTH, kinds=["quarantine"], directory=tmp_path, batch=2)

    assert done[0].removed == 5 and QuarantinedCheckIn.objects.count() == 0
    quarantined(facility, 1)
    with pytest.raises(Exception, match="append-only"):
        QuarantinedCheckIn.objects.all().delete()


def test_a_month_younger_than_its_retention_is_refused(facility, tmp_path, settings):
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    with pytest.raises(CommandError, match="younger than its retention"):
        call_command("archive_month", last_month, "--dir", str(tmp_path))

    settings.RETENTION_DAYS = "quarantine=40000"
    with pytest.raises(ImproperlyConfigured, match="36500"):
        retention_days()
    settings.RETENTION_DAYS = "ledger=30"
    with pytest.raises(ImproperlyConfigured, match="kept for ever"):
        retention_days()
    with pytest.raises(CommandError, match="RETENTION_DAYS names 'ledger'"):
        call_command("archive_month", "2020-01", "--dir", str(tmp_path))
    settings.RETENTION_DAYS = "checkins=30, notifications=90"
    assert retention_days() == {"checkins": 30, "notifications": 90, "quarantine": 730}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2024-13"], "not a month"),
        (["24-01"], "not a month"),
        (["NOWHERE", "2024-01"], "No facility with code"),
        (["A", "B", "2024-01"], "at most a facility code and a month"),
        (["2024-01", "--kind", "ledger"], "No such kind of record: ledger"),
        (["2024-01", "--batch", "5"], "--batch"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(facility, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("archive_month", *args, "--dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_csv_rows_counts_rows_not_lines():
    text = b'id,item\n1,"a\nb"\n2,"say ""hi""\n"\n3,plain\n'
    assert csv_rows(io.BytesIO(text)) == 3
    assert csv_rows(io.BytesIO(b"id,item\n")) == 0


def test_a_hold_placed_during_the_export_still_stops_the_drop(
    january, facility, make_user, tmp_path
):
    scans(facility, 2)
    supervisor = make_user(Role.SUPERVISOR, facility)

    def hold_meanwhile(path):
        hold_place(
            facility=facility,
            by=supervisor,
            period_start=datetime(2024, 1, 15, tzinfo=UTC),
            reason="Placed while the export ran",
        )

    with pytest.raises(ArchiveRefused, match="held during the export"):
        archive_month(
            month=MONTH, kinds=["checkins"], directory=tmp_path, after_export=hold_meanwhile
        )
    assert partition_exists() and month_rows() == 2
    assert not LedgerEvent.objects.filter(action__startswith="archive.").exists()


def test_notifications_of_one_facility_leave_while_their_alerts_stay(
    facility, other_facility, make_user, tmp_path
):
    from alerts.models import Alert, Notification, NotificationChannel

    def notified(where, count):
        alert = factories.AlertFactory(
            facility=where,
            opened_at=datetime(2024, 1, 5, tzinfo=UTC),
            status=AlertStatus.RESOLVED,
            resolved_at=datetime(2024, 1, 6, tzinfo=UTC),
            resolved_by=make_user(Role.SUPERVISOR, where),
            resolution="Found in the infirmary",
        )
        channel = NotificationChannel.objects.create(
            facility=where, level=0, name="correo", kind="email", target="jefe@fj2.gob.gt"
        )
        for level in range(count):
            at = datetime(2024, 1, 5, level, tzinfo=UTC)
            Notification.objects.create(
                alert=alert,
                channel=channel,
                event="opened",
                level=level,
                status="sent",
                created_at=at,
                next_attempt_at=at,
            )

    notified(facility, 3)
    notified(other_facility, 2)

    done = archive_month(
        month=MONTH, facility=facility, kinds=["notifications"], directory=tmp_path
    )

    assert (done[0].rows, done[0].removed) == (3, 3)
    assert set(Notification.objects.values_list("alert__facility", flat=True)) == {
        other_facility.pk
    }
    assert Alert.objects.count() == 2
    with pytest.raises(DatabaseError, match="never deleted"):
        Notification.objects.all().delete()
