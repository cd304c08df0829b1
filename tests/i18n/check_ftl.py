#!/usr/bin/env python3
"""Checks the Fluent files in commands/ against commands/en-US.ftl.

For every commands/*.ftl:
  * it parses with fluent.syntax without Junk entries;
  * it is named after a Discord locale code;
  * it has exactly the message ids of en-US.ftl and, per message, the same attribute keys;
  * every message value and attribute uses the same set of variables as in en-US.ftl;
  * command and option names (a message whose en-US source has `.description`; an attribute
    `.X` where `.X-description` exists) match ^[-_\\w]{1,32}$ and are lowercase;
  * sibling names (subcommands of one command, options of one command, choices of one option)
    are distinct;
  * descriptions (`.description`, `.X-description`) have 1-100 characters, choice labels 1-100;
  * modal titles and labels have at most 45 characters, placeholders 100, buttons 80,
    select-menu texts 100;
  * a command mentioned in an en-US reply ("/persona consent on", "persona: off") appears in
    the translation with the localized names of the same file.

Prints every problem and exits 1 if there is any. Needs `pip install fluent.syntax`.
Usage: python3 tests/i18n/check_ftl.py [commands-dir]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fluent.syntax import FluentParser, ast, visitor

REFERENCE = "en-US"

# Locales Discord accepts in name_localizations / interaction.locale.
DISCORD_LOCALES = {
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu",
    "nl", "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru",
    "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
}

NAME_RE = re.compile(r"^[-_\w]{1,32}$")

# Message id -> maximum length (Discord component limits).
MODAL_TITLES = {"persona-edit-title", "persona-setup-title"}
MODAL_LABELS = {
    "persona-edit-label", "persona-setup-who", "persona-setup-work", "persona-setup-love",
    "persona-setup-visual",
}
BUTTONS = {
    "persona-consent-accept", "persona-consent-later", "persona-forget-button",
    "compare-left-better", "compare-right-better", "imagine-persona-button",
}
SELECT_TEXTS = {"persona-history-pick", "persona-history-option"}


class _Vars(visitor.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_VariableReference(self, node: ast.VariableReference) -> None:
        self.names.add(node.id.name)
        self.generic_visit(node)


def variables(pattern: ast.Pattern | None) -> set[str]:
    if pattern is None:
        return set()
    v = _Vars()
    v.visit(pattern)
    return v.names


def text(pattern: ast.Pattern | None) -> str:
    """The pattern as a member would roughly see it: text plus `{ $var }` placeholders."""
    if pattern is None:
        return ""
    out = []
    for element in pattern.elements:
        if isinstance(element, ast.TextElement):
            out.append(element.value)
        elif isinstance(element, ast.Placeable) and isinstance(
            element.expression, ast.VariableReference
        ):
            out.append("{ $" + element.expression.id.name + " }")
        elif isinstance(element, ast.Placeable) and isinstance(
            element.expression, (ast.StringLiteral, ast.NumberLiteral)
        ):
            out.append(str(element.expression.parse()["value"]))
        else:
            out.append("{…}")
    return "".join(out)


class Locale:
    """One parsed .ftl file: message id -> (value, {attribute key: value})."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.name = path.stem
        self.messages: dict[str, tuple[ast.Pattern | None, dict[str, ast.Pattern]]] = {}
        source = path.read_text(encoding="utf-8")
        resource = FluentParser(with_spans=True).parse(source)
        for entry in resource.body:
            if isinstance(entry, ast.Junk):
                line = source.count("\n", 0, entry.span.start) + 1
                annotations = "; ".join(a.message for a in entry.annotations)
                problems.append(f"{path}:{line}: does not parse ({annotations}): "
                                f"{entry.content.strip()[:80]!r}")
            elif isinstance(entry, ast.Message):
                mid = entry.id.name
                if mid in self.messages:
                    problems.append(f"{path}: message {mid} defined twice")
                attrs: dict[str, ast.Pattern] = {}
                for attr in entry.attributes:
                    if attr.id.name in attrs:
                        problems.append(f"{path}: {mid}.{attr.id.name} defined twice")
                    attrs[attr.id.name] = attr.value
                self.messages[mid] = (entry.value, attrs)
            elif isinstance(entry, ast.Term):
                problems.append(f"{path}: term -{entry.id.name} is not used by zipp")

    def get(self, mid: str, attr: str | None = None) -> str:
        value, attrs = self.messages.get(mid, (None, {}))
        return text(attrs.get(attr) if attr else value)


class Tree:
    """The command tree as described by en-US.ftl."""

    def __init__(self, ref: Locale) -> None:
        self.commands = [m for m, (_, a) in ref.messages.items() if "description" in a]
        self.parent: dict[str, str | None] = {}
        for cmd in self.commands:
            parents = [p for p in self.commands if cmd.startswith(p + "-")]
            self.parent[cmd] = max(parents, key=len) if parents else None
        # command id -> option keys; (command id, option key) -> choice attribute keys
        self.options: dict[str, list[str]] = {}
        self.choices: dict[tuple[str, str], list[str]] = {}
        for cmd in self.commands:
            attrs = ref.messages[cmd][1]
            opts = [k for k in attrs if k != "description" and f"{k}-description" in attrs]
            self.options[cmd] = opts
            for opt in opts:
                self.choices[(cmd, opt)] = [
                    k for k in attrs
                    if k.startswith(opt + "-") and k != f"{opt}-description" and k not in opts
                ]

    def children(self, cmd: str | None) -> list[str]:
        return [c for c in self.commands if self.parent[c] == cmd]

    def name_keys(self) -> list[tuple[str, str | None]]:
        keys: list[tuple[str, str | None]] = []
        for cmd in self.commands:
            keys.append((cmd, None))
            keys.extend((cmd, opt) for opt in self.options[cmd])
        return keys


def check_structure(ref: Locale, loc: Locale, problems: list[str]) -> None:
    p = loc.path
    missing = ref.messages.keys() - loc.messages.keys()
    extra = loc.messages.keys() - ref.messages.keys()
    for mid in sorted(missing):
        problems.append(f"{p}: missing message {mid}")
    for mid in sorted(extra):
        problems.append(f"{p}: message {mid} is not in {REFERENCE}.ftl")
    for mid, (ref_value, ref_attrs) in ref.messages.items():
        if mid not in loc.messages:
            continue
        value, attrs = loc.messages[mid]
        if (ref_value is None) != (value is None):
            problems.append(f"{p}: {mid} must {'not ' if ref_value is None else ''}have a value")
        for key in sorted(ref_attrs.keys() - attrs.keys()):
            problems.append(f"{p}: {mid} lacks attribute .{key}")
        for key in sorted(attrs.keys() - ref_attrs.keys()):
            problems.append(f"{p}: {mid} has attribute .{key}, which {REFERENCE}.ftl lacks")
        pairs = [(None, ref_value, value)] + [
            (k, ref_attrs[k], attrs[k]) for k in ref_attrs if k in attrs
        ]
        for key, ref_pattern, pattern in pairs:
            want, got = variables(ref_pattern), variables(pattern)
            where = mid + (f".{key}" if key else "")
            for var in sorted(want - got):
                problems.append(f"{p}: {where} lacks {{ ${var} }}")
            for var in sorted(got - want):
                problems.append(f"{p}: {where} uses {{ ${var} }}, which {REFERENCE}.ftl does not")


def check_lengths(tree: Tree, ref: Locale, loc: Locale, problems: list[str]) -> None:
    p = loc.path

    def limit(where: str, value: str, low: int, high: int) -> None:
        n = len(value)
        if not low <= n <= high:
            problems.append(f"{p}: {where} has {n} characters (allowed {low}-{high}): {value!r}")

    # Names.
    for cmd, opt in tree.name_keys():
        if cmd not in loc.messages:
            continue
        value = loc.get(cmd, opt)
        where = cmd + (f".{opt}" if opt else "")
        if not NAME_RE.fullmatch(value):
            problems.append(f"{p}: {where} = {value!r} is not a valid Discord name "
                            r"(^[-_\w]{1,32}$)")
        if value != value.lower():
            problems.append(f"{p}: {where} = {value!r} must be lowercase")
    # Distinct sibling names.
    for parent in [None, *tree.commands]:
        names = [loc.get(c) for c in tree.children(parent)]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            problems.append(f"{p}: subcommands of {parent or 'the top level'} share names {sorted(dupes)}")
    for cmd in tree.commands:
        names = [loc.get(cmd, o) for o in tree.options[cmd]]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            problems.append(f"{p}: options of {cmd} share names {sorted(dupes)}")
        for opt in tree.options[cmd]:
            labels = [loc.get(cmd, c) for c in tree.choices[(cmd, opt)]]
            dupes = {n for n in labels if labels.count(n) > 1}
            if dupes:
                problems.append(f"{p}: choices of {cmd}.{opt} share labels {sorted(dupes)}")
            for c in tree.choices[(cmd, opt)]:
                limit(f"{cmd}.{c} (choice label)", loc.get(cmd, c), 1, 100)
    # Descriptions: every `.description` / `.X-description` of any message.
    for mid, (_, attrs) in loc.messages.items():
        for key in attrs:
            if key == "description" or key.endswith("-description"):
                limit(f"{mid}.{key}", loc.get(mid, key), 1, 100)
    # Components.
    for ids, high, what in [
        (MODAL_TITLES, 45, "modal title"),
        (MODAL_LABELS, 45, "modal label"),
        (BUTTONS, 80, "button label"),
        (SELECT_TEXTS, 100, "select menu text"),
    ]:
        for mid in sorted(ids):
            if mid in loc.messages:
                limit(f"{mid} ({what})", loc.get(mid), 1, high)
    for mid in ref.messages:
        if mid.endswith("-placeholder") and mid in loc.messages:
            limit(f"{mid} (placeholder)", loc.get(mid), 1, 100)


def check_mentions(tree: Tree, ref: Locale, loc: Locale, problems: list[str]) -> None:
    """A command written in an en-US reply must appear with this file's localized names."""
    p = loc.path
    top = {ref.get(c): c for c in tree.children(None)}

    def choice_of(cmd: str, word: str) -> tuple[str, str] | None:
        for opt in tree.options[cmd]:
            for c in tree.choices[(cmd, opt)]:
                if ref.get(cmd, c) == word:
                    return (opt, c)
        return None

    mention = re.compile(r"/([-_\w]+)((?: [-_\w]+){0,2})")
    option = re.compile(r"(?<![-_\w])([-_\w]+): ([-_\w]+)")
    for mid, (value, _) in ref.messages.items():
        if mid in tree.commands or value is None or mid not in loc.messages:
            continue
        source, translated = text(value), loc.get(mid)
        wanted = []
        for m in mention.finditer(source):
            if m.group(1) not in top:
                continue
            cmd = top[m.group(1)]
            parts = [loc.get(cmd)]
            words = m.group(2).split()
            if words:
                sub = next((c for c in tree.children(cmd) if ref.get(c) == words[0]), None)
                if sub:
                    cmd = sub
                    parts.append(loc.get(sub))
                    words = words[1:]
            if words and (hit := choice_of(cmd, words[0])):
                parts.append(loc.get(cmd, hit[1]))
            wanted.append("/" + " ".join(parts))
        for m in option.finditer(source):
            for cmd in tree.commands:
                opt = next((o for o in tree.options[cmd] if ref.get(cmd, o) == m.group(1)), None)
                if opt and (hit := choice_of(cmd, m.group(2))) and hit[0] == opt:
                    wanted.append(f"{loc.get(cmd, opt)}: {loc.get(cmd, hit[1])}")
                    break
        for w in wanted:
            if not re.search(re.escape(w) + r"(?![-_\w])", translated) and not (
                # Japanese writes the mention in brackets right before other text.
                re.search(re.escape(w) + r"[」』）)]", translated)
            ):
                problems.append(f"{p}: {mid} should mention {w!r} (localized from en-US)")


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "commands"
    problems: list[str] = []
    files = sorted(directory.glob("*.ftl"))
    ref_path = directory / f"{REFERENCE}.ftl"
    if not ref_path.exists():
        print(f"{ref_path} is missing")
        return 1
    ref = Locale(ref_path, problems)
    tree = Tree(ref)
    if not tree.commands:
        problems.append(f"{ref_path}: no command (message with .description) found")
    for path in files:
        if path.stem not in DISCORD_LOCALES:
            problems.append(f"{path}: {path.stem!r} is not a Discord locale code")
        loc = ref if path == ref_path else Locale(path, problems)
        if loc is not ref:
            check_structure(ref, loc, problems)
        check_lengths(tree, ref, loc, problems)
        check_mentions(tree, ref, loc, problems)
    for problem in problems:
        print(problem)
    print(f"{len(files)} file(s) checked, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
