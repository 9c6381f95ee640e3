"""``{% count_freeze_banner facility %}``: the units whose movements are
frozen before a formal count (custody.selectors.count_freeze), one line
each, in the facility's time. A small include so that any page can show it."""

from django import template
from django.utils import timezone

from custody.selectors.count_freeze import count_freezes

register = template.Library()


@register.inclusion_tag("custody/_count_freeze.html")
def count_freeze_banner(facility):
    freezes = count_freezes(facility=facility, now=timezone.now())
    return {
        "freezes": [
            {
                "unit": f.unit_name or f.unit_code,
                "code": f.unit_code,
                "time": f.slot_at.astimezone(facility.tzinfo).strftime("%H:%M"),
            }
            for f in freezes
        ]
    }
