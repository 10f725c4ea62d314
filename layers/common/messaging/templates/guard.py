"""What a template may cost, read before the native engine sees it.

handlebars-rust recurses on block nesting and subexpressions (a few thousand levels overflow the
stack: the process dies), runs inline partials forever, renders nested `each` blocks without any
bound (an abort on a failed 2 GB allocation), and parses in time quadratic in the number of tags.
None of that can be interrupted from Python, so this module runs first: one linear pass over the
`{{ }}` tags that

- refuses partials, inline partials and decorators, block nesting deeper than MAX_BLOCK_DEPTH and
  subexpressions nested deeper than MAX_SUBEXPRESSION_DEPTH;
- reports the structural syntax errors (a tag or block left open, a mismatched closer) with the
  native parser's wording, so a template is refused before any compile;
- cuts the template into parts at top-level boundaries where rendering the parts one after the
  other gives the same text (before a plain `{{x}}` that follows another, or after a line break),
  so no native compile sees more than about PART_TAGS tags;
- records, per `each` nesting depth, the literal bytes and the interpolations, from which
  `Shape.bound` gives the most a render can write for a context's widest array and longest value.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.templates.helpers import ITERATING
from messaging.templates.shape import GuardError, Shape
from messaging.templates.tags import backslashes_before, first_word, tag_end

MAX_BLOCK_DEPTH = 32
MAX_SUBEXPRESSION_DEPTH = 32
# One native template holds about this many tags; a part that cannot be split holds at most
# MAX_PART_TAGS (the native parse is quadratic in the tags of one template).
PART_TAGS = 200
MAX_PART_TAGS = 1000
# Helpers whose block form writes nothing of their own.
_SILENT_BLOCKS = frozenset({"if", "unless", "each", "with"})
# Helper output (dateFormat, toLocale...) bounded by its own text, generously.
_HELPER_FACTOR = 3
_HELPER_EXTRA = 64


@dataclass
class _Frame:
    name: str
    line: int
    column: int
    each: bool
    chained: bool = False  # an `{{else if ...}}` link: closed by its block's closer


class _Scan:
    def __init__(self, source: str) -> None:
        self.source = source
        self.text: list[int] = [0]
        self.values: list[int] = [0]
        self.stack: list[_Frame] = []
        self.each_depth = 0
        # Top-level cut points and the tags between them.
        self.cuts: list[tuple[int, int]] = []  # (offset, tags before it)
        self.tags = 0
        self.tags_since_cut = 0
        self.max_part = 0
        # Where the literal text before the next tag starts.
        self.text_start = 0
        self.previous_plain = False  # the last top-level tag was a plain {{x}} with no ~ on its right
        self.previous_trims = False  # the last tag trims the whitespace after it (~}})

    def position(self, offset: int) -> tuple[int, int]:
        line = self.source.count("\n", 0, offset) + 1
        column = offset - (self.source.rfind("\n", 0, offset) + 1) + 1
        return line, column

    def syntax(self, offset: int, detail: str) -> GuardError:
        line, column = self.position(offset)
        return GuardError(f"invalid Handlebars syntax at line {line}, column {column}: {detail}")

    def add_text(self, size: int) -> None:
        while len(self.text) <= self.each_depth:
            self.text.append(0)
            self.values.append(0)
        self.text[self.each_depth] += size

    def add_value(self, tag: str) -> None:
        self.add_text(0)
        self.values[self.each_depth] += 1
        if " " in tag.strip() or "(" in tag:  # a helper call: its output is bounded by its text
            self.text[self.each_depth] += _HELPER_FACTOR * len(tag.encode()) + _HELPER_EXTRA

    def cut(self, offset: int, tags_after: int = 0) -> None:
        """A cut at `offset`; `tags_after` of the tags counted so far lie after it."""
        self.max_part = max(self.max_part, self.tags_since_cut - tags_after)
        self.tags_since_cut = tags_after
        self.cuts.append((offset, self.tags - tags_after))


@dataclass(frozen=True)
class _Lexed:
    """One `{{ }}` tag as found: where it starts and ends, its braces, and what kind it is."""

    start: int
    end: int
    body_start: int
    closer: str
    deepest: int
    escaped: bool
    raw: bool
    triple: bool
    comment: bool


def _lex(scan: _Scan, start: int) -> _Lexed:
    """The tag at `start`, or the structural syntax error of one left open."""
    source = scan.source
    escaped = backslashes_before(source, start) == 1
    raw = source.startswith("{{{{", start)
    triple = not raw and source.startswith("{{{", start)
    closer = "}}}}" if raw else "}}}" if triple else "}}"
    body_start = start + len(closer)
    bang = body_start + source.startswith("~", body_start)
    comment = not (raw or triple or escaped) and source.startswith("!", bang)
    if comment:
        long_comment = source.startswith("!--", bang)
        end = source.find("--}}" if long_comment else "}}", bang)
        if end < 0:
            raise scan.syntax(len(source), "unexpected end of template: a comment is not closed")
        end += 4 if long_comment else 2
        deepest = 0
    else:
        end, deepest = tag_end(source, body_start, closer)
        if end < 0:
            raise scan.syntax(len(source), "unexpected end of template: a block or an expression is not closed")
    return _Lexed(start, end, body_start, closer, deepest, escaped, raw, triple, comment)


def _step(scan: _Scan, tag: _Lexed) -> int:
    """Accounts the literal text before the tag and the tag itself; the offset to go on from."""
    source = scan.source
    text_end = tag.start - (1 if tag.escaped else 0)
    segment = source[scan.text_start : text_end]
    scan.add_text(len(segment.encode()))
    left_trim = source.startswith("~", tag.body_start)
    if tag.escaped:
        # `\{{x}}` is literal text; the cut logic treats it as a tag that is not plain.
        scan.add_text(tag.end - tag.start)
        _top_level_text(scan, scan.text_start, segment, scan.previous_trims, False)
        scan.previous_plain = scan.previous_trims = False
        scan.text_start = tag.end
        return tag.end
    _top_level_text(scan, scan.text_start, segment, scan.previous_trims, left_trim)
    if tag.deepest > MAX_SUBEXPRESSION_DEPTH:
        raise GuardError(f"subexpressions nest deeper than {MAX_SUBEXPRESSION_DEPTH} levels")
    inner = source[tag.body_start : tag.end - len(tag.closer)]
    right_trim = inner.endswith("~")
    body = inner[1:] if left_trim else inner
    body = body[:-1] if right_trim else body
    top_level = not scan.stack
    scan.tags += 1
    scan.tags_since_cut += 1
    if tag.raw:
        scan.text_start = _raw_block(scan, source, body, tag.end, tag.start)
        scan.previous_plain = scan.previous_trims = False
        return scan.text_start
    plain = False
    if tag.comment:
        pass
    elif tag.triple:
        scan.add_value(body)
        plain = True
    else:
        plain = _tag(scan, body.lstrip(), tag.start, left_trim=left_trim)
    if top_level and plain and scan.previous_plain and not left_trim:
        scan.cut(tag.start, 1)
    scan.previous_plain = plain and not right_trim
    scan.previous_trims = right_trim
    scan.text_start = tag.end
    return tag.end


def inspect(source: str) -> Shape:
    """The template's shape, or GuardError naming the first construct refused."""
    scan = _Scan(source)
    index = 0
    while (start := source.find("{{", index)) >= 0:
        index = _step(scan, _lex(scan, start))
    segment = source[scan.text_start :]
    scan.add_text(len(segment.encode()))
    if scan.stack:
        raise scan.syntax(len(source), "unexpected end of template: a block or an expression is not closed")
    scan.max_part = max(scan.max_part, scan.tags_since_cut)
    if scan.max_part > MAX_PART_TAGS:
        raise GuardError(
            f"more than {MAX_PART_TAGS} Handlebars tags in one top-level block or line; split it with line breaks"
        )
    return Shape(tuple(scan.text), tuple(scan.values), _parts(source, scan.cuts, scan.tags), scan.tags)


def _top_level_text(scan: _Scan, offset: int, segment: str, after_trim: bool, before_trim: bool) -> None:
    """A cut after the segment's last line break, unless a ~ on either side trims across it."""
    if scan.stack or after_trim or before_trim:
        return
    newline = segment.rfind("\n")
    if newline >= 0 and scan.tags_since_cut:
        scan.cut(offset + newline + 1)


def _raw_block(scan: _Scan, source: str, body: str, end: int, start: int) -> int:
    name = first_word(body)
    closing = source.find("{{{{/" + name, end)
    if closing < 0:
        raise scan.syntax(len(source), "unexpected end of template: a raw block is not closed")
    scan.add_text(len(source[end:closing].encode()))
    close_end = source.find("}}}}", closing)
    if close_end < 0:
        raise scan.syntax(len(source), "unexpected end of template: a raw block is not closed")
    if name not in _SILENT_BLOCKS:
        scan.add_value(body)
    return close_end + 4


def _tag(scan: _Scan, body: str, start: int, *, left_trim: bool = False) -> bool:
    """Accounts one `{{...}}` tag; True for a plain interpolation."""
    if body.startswith(("#>", ">")):
        raise GuardError("partials are not supported")
    if body.startswith(("#*", "*")):
        raise GuardError("inline partials and decorators are not supported")
    if body.startswith("&"):
        scan.add_value(body[1:])
        return True
    if body.startswith(("#", "^")) and body[1:].strip():
        name = first_word(body[1:])
        if name.startswith("else"):
            raise scan.syntax(start, "a block may not be named else")
        _open(scan, name, start, chained=False)
        if body.startswith("#") and name not in _SILENT_BLOCKS:
            scan.add_value(body[1:])
        return False
    if body.startswith("/"):
        _close(scan, first_word(body[1:]), start)
        return False
    word = first_word(body)
    if body.startswith("^") or word == "else":
        if not scan.stack:
            raise scan.syntax(start, "{{else}} outside a block")
        rest = body[1:].strip() if body.startswith("^") else body.strip()[len("else") :].strip()
        if rest and left_trim:
            # handlebars-rust panics on `{{~else if x}}` ("unreachable code"): refused before it parses.
            raise scan.syntax(start, '"~" before "else <helper>" is not supported')
        if rest:  # {{else if x}}: the native engine nests one more block
            _open(scan, first_word(rest), start, chained=True)
        return False
    scan.add_value(body)
    return True


def _open(scan: _Scan, name: str, start: int, *, chained: bool) -> None:
    if len(scan.stack) >= MAX_BLOCK_DEPTH:
        raise GuardError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels")
    line, column = scan.position(start)
    each = name == "each" or name in ITERATING
    scan.stack.append(_Frame(name, line, column, each, chained))
    if each:
        scan.each_depth += 1


def _close(scan: _Scan, name: str, start: int) -> None:
    while scan.stack and scan.stack[-1].chained:
        frame = scan.stack.pop()
        scan.each_depth -= frame.each
    if not scan.stack:
        raise scan.syntax(start, f'"{name}" is closing, but no block is open')
    frame = scan.stack.pop()
    scan.each_depth -= frame.each
    if frame.name != name:
        raise scan.syntax(start, f'helper "{frame.name}" was opened, but "{name}" is closing')


def _parts(source: str, cuts: list[tuple[int, int]], tags: int) -> tuple[str, ...]:
    """The source cut at the first cut point past every PART_TAGS tags."""
    if tags <= PART_TAGS or not cuts:
        return (source,)
    parts: list[str] = []
    begin = 0
    begin_tags = 0
    for offset, before in cuts:
        if before - begin_tags >= PART_TAGS and offset > begin:
            parts.append(source[begin:offset])
            begin, begin_tags = offset, before
    parts.append(source[begin:])
    return tuple(part for part in parts if part)
