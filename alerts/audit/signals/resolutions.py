"""Boilerplate resolutions: alerts closed with words that say nothing.

A resolution is the written reason an alert is over (invariant 6). "OK",
"sin novedad", or the same sentence pasted on every alert means nobody
looked, or somebody does not want it read.
"""

import re
import unicodedata
from collections import Counter

from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Row, Scope, Signal, threshold
from alerts.models import Alert, AlertStatus

MIN_WORDS = 3  # a resolution of fewer words explains nothing
REPEATED_TIMES = 5  # the same words on this many alerts of the period is a template
# Said instead of a reason, in Spanish and English; compared after normalising
# (case, accents and punctuation), and so is every word of them.
EMPTY_PHRASES = (
    "ok",
    "okay",
    "okey",
    "bien",
    "todo bien",
    "todo ok",
    "todo en orden",
    "en orden",
    "sin novedad",
    "sin novedades",
    "nada",
    "nada que reportar",
    "resuelto",
    "resuelta",
    "solucionado",
    "arreglado",
    "listo",
    "hecho",
    "visto",
    "revisado",
    "verificado",
    "atendido",
    "cerrado",
    "falsa alarma",
    "n/a",
    "no aplica",
    "prueba",
    "done",
    "fixed",
    "resolved",
    "solved",
    "closed",
    "checked",
    "seen",
    "all good",
    "all ok",
    "no issue",
    "no issues",
    "nothing to report",
    "false alarm",
    "test",
)
# Words that only join empty phrases together ("ok, todo bien y revisado").
FILLER_WORDS = frozenset({"y", "e", "ya", "se", "es", "and", "it", "is"})


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


# Longest first, so "todo bien" goes before "bien" can split it.
_EMPTY = re.compile(
    r"\b(?:"
    + "|".join(re.escape(normalise(p)) for p in sorted(EMPTY_PHRASES, key=len, reverse=True))
    + r")\b"
)


def says_nothing(words: str) -> bool:
    """Nothing is left of the normalised text once the empty phrases and the
    words that join them are taken out."""
    left = _EMPTY.sub(" ", words).split()
    return all(word in FILLER_WORDS for word in left)


def boilerplate_resolutions(scope: Scope) -> Signal:
    min_words = threshold("MIN_WORDS", MIN_WORDS)
    repeated = threshold("REPEATED_TIMES", REPEATED_TIMES)
    resolved = list(
        Alert.objects.filter(
            facility=scope.facility,
            status=AlertStatus.RESOLVED,
            resolved_by__isnull=False,  # people's words; the record closes others itself
            resolved_at__gte=scope.since,
            resolved_at__lt=scope.until,
        )
        .values_list("pk", "resolved_at", "resolved_by__username", "resolution")
        .order_by("resolved_at", "pk")
    )
    uses = Counter(normalise(text) for _pk, _at, _who, text in resolved)
    groups = {}  # (resolver, normalised text) -> alerts
    for pk, at, who, text in resolved:
        words = normalise(text)
        reasons = _why(words, uses[words], min_words=min_words, repeated=repeated)
        if reasons:
            group = groups.setdefault(
                (who, words), {"text": text.strip(), "why": reasons, "alerts": [], "at": []}
            )
            group["alerts"].append(pk)
            group["at"].append(at)
    rows = [
        Row(
            [
                who,
                group["text"],
                ", ".join(group["why"]),
                len(group["alerts"]),
                uses[words],
                scope.local(group["at"][0]),
                scope.local(group["at"][-1]),
            ],
            [links.officer(scope, who), *(links.alert(pk) for pk in group["alerts"])],
        )
        for (who, words), group in sorted(
            groups.items(), key=lambda item: (-len(item[1]["alerts"]), item[0])
        )
    ]
    return Signal(
        key="boilerplate_resolutions",
        title=_("Alerts resolved with boilerplate"),
        explanation=_(
            "Alerts resolved by a person in the period whose written reason says nothing: "
            "fewer than %(words)s words, only empty phrases (such as “ok”, "
            "“sin novedad”, “revisado”, “done”), or the same "
            "words on at least %(times)s alerts; compared without case, accents or "
            "punctuation. Grouped per officer and wording. Fires on any."
        )
        % {"words": min_words, "times": repeated},
        fired=bool(rows),
        columns=[
            Column("resolved_by", _("Resolved by")),
            Column("resolution", _("Resolution as written")),
            Column("why", _("Why it is boilerplate")),
            Column("alerts", _("Alerts by this officer"), NUMBER),
            Column("uses", _("Uses in the facility"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"MIN_WORDS": min_words, "REPEATED_TIMES": repeated},
    )


def _why(words: str, uses: int, *, min_words: int, repeated: int) -> list[str]:
    reasons = []
    if len(words.split()) < min_words:
        reasons.append(_("too short"))
    if says_nothing(words):
        reasons.append(_("empty phrase"))
    if uses >= repeated:
        reasons.append(_("used %(times)s times") % {"times": uses})
    return reasons
