"""The API's one parser: JSON, with the nesting a request may have bounded.

Python's ``json`` raises ``RecursionError`` (not ``ValueError``) on a body of
a few thousand nested brackets, which DRF's parser lets through as a 500; and
a body nested just under that limit parses, then overflows the first code
that walks it (the quarantine's ``json.dumps``, a serializer). Both are the
caller's malformed input: a 400.
"""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No request the API documents nests deeper than a handful of levels.
MAX_JSON_DEPTH = 32


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_too_deep()) from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(_too_deep())
        return data


def json_depth(value) -> int:
    """How deep lists and objects nest in ``value`` (a scalar is 0), walked
    without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:  # past the limit the answer is known
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> str:
    return _("JSON parse error - nested more than %(depth)s levels deep.") % {
        "depth": MAX_JSON_DEPTH
    }
