"""The handlebars-helpers catalogue (helpers/handlebars-helpers), one module per category.

Left out: what reads files or the network or is random (fs, code, markdown-file, gist, random,
logging). `CATALOGUE` maps every name to its Spec; the engines register each in three forms.
"""

from __future__ import annotations

from messaging.templates.helpers import (
    array,
    collection,
    comparison,
    date,
    inflection,
    math,
    misc,
    number,
    object,
    string,
    url,
)
from messaging.templates.helpers.core import Spec

CATEGORIES: dict[str, dict[str, Spec]] = {
    "comparison": comparison.HELPERS,
    "string": string.HELPERS,
    "math": math.HELPERS,
    "number": number.HELPERS,
    "array": array.HELPERS,
    "collection": collection.HELPERS,
    "object": object.HELPERS,
    "url": url.HELPERS,
    "inflection": inflection.HELPERS,
    "misc": misc.HELPERS,
    "date": date.HELPERS,
}
CATALOGUE: dict[str, Spec] = {}
for _helpers in CATEGORIES.values():
    CATALOGUE.update(_helpers)
# Blocks that render their body once per item: the template guard counts them as `each`.
ITERATING = frozenset(name for name, spec in CATALOGUE.items() if spec.kind == "iter")
