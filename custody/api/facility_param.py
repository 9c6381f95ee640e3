"""The ``facility`` query parameter of reports about one facility (the
ledger's verification, the auditor's reports): a code of one's own
facilities, or nothing for someone assigned to exactly one."""

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from custody import selectors
from custody.models import Facility


def one_facility(request, *, missing_message: str) -> Facility:
    """The facility asked for: 400 for two codes or an empty one, or for none
    when the caller has several (``missing_message`` says what to name); 404
    for a code that is not one of theirs, as if it did not exist."""
    codes = request.query_params.getlist("facility")
    if len(codes) > 1 or codes == [""]:
        raise ValidationError({"facility": [_("Give one facility code.")]})
    if codes:
        found = selectors.ledger_facilities(user=request.user, code=codes[0])
        if not found:
            raise Http404
        return found[0]
    found = selectors.ledger_facilities(user=request.user)
    if len(found) != 1:
        raise ValidationError({"facility": [missing_message]})
    return found[0]
