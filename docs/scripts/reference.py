"""Reference pages generated from the code, never typed: the CLI (from `condgan.cli.build_parser()`)
and every config key (from the dataclasses in `condgan.config`, the meaning read from each field's
trailing comment, or from `dataclasses.field(metadata={"help": ...})` where a field has one).

Used by the MkDocs hook (docs/scripts/hooks.py) when it renders docs/reference/cli.md and config.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: object) -> str:
    text = str(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


# ----------------------------------------------------------------------------- CLI


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _default(action: argparse.Action) -> str:
    if action.required or action.default in (None, argparse.SUPPRESS) or isinstance(
        action, (argparse._StoreTrueAction, argparse._StoreFalseAction)
    ):
        return ""
    if action.default == []:
        return ""
    return _code(action.default)


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            metavar = "" if action.nargs == 0 else " " + (action.metavar or action.dest.upper())
            if isinstance(metavar, tuple):
                metavar = " " + " ".join(metavar)
            name = ", ".join(_code(option + metavar) for option in action.option_strings)
        else:
            name = _code(action.metavar or action.dest)
        what = action.help or ""
        if action.choices and not isinstance(action.choices, dict):
            what += (" " if what else "") + "Choices: " + ", ".join(_code(c) for c in action.choices) + "."
        if action.required and action.option_strings:
            what = "**Required.** " + what
        if action.nargs in ("*", "+") or isinstance(action, argparse._AppendAction):
            what += " (repeatable)" if isinstance(action, argparse._AppendAction) and "repeat" not in what else ""
        rows.append(f"| {name} | {_cell(what)} | {_default(action)} |")
    return rows


def _usage(parser: argparse.ArgumentParser, width: int = 96) -> str:
    """The parser's usage line, wrapped between whole `[...]` groups."""
    usage = " ".join(parser.format_usage().removeprefix("usage: ").split())
    groups, depth, current = [], 0, ""
    for char in usage:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(char, 0)
        if char == " " and depth == 0:
            groups.append(current)
            current = ""
        else:
            current += char
    groups.append(current)
    lines = [""]
    for group in groups:
        if lines[-1].strip() and len(lines[-1]) + 1 + len(group) > width:
            lines.append("   ")
        lines[-1] += (" " if lines[-1] else "") + group
    return "\n".join(lines)


def _command_section(path: list[str], help_text: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    title = " ".join(path)
    lines = [f"{'#' * level} {title}", ""]
    if help_text:
        lines += [help_text[0].upper() + help_text[1:] + ("" if help_text.endswith(".") else "."), ""]
    if parser.description and parser.description != help_text:
        lines += [parser.description, ""]
    lines += ["```text", _usage(parser), "```", ""]
    subs = _subcommands(parser)
    rows = _argument_rows(parser)
    if rows:
        lines += ["| argument | what | default |", "| --- | --- | --- |", *rows, ""]
    if parser.epilog:
        lines += ["```text", inspect.cleandoc(parser.epilog), "```", ""]
    if subs:
        lines += ["| command | what |", "| --- | --- |"]
        for n, h, _ in subs:
            command = " ".join([*path, n])
            lines.append(f"| [{_code(command)}](#{_slug(command)}) | {_cell(h)} |")
        lines.append("")
        for name, sub_help, sub in subs:
            lines += _command_section([*path, name], sub_help, sub, min(level + 1, 4))
    return lines


def _slug(text: str) -> str:
    from markdown.extensions.toc import slugify

    return slugify(text, "-")


def cli_reference() -> str:
    """Markdown for every `condgan` command: usage, arguments with their help and defaults, epilogs."""
    from condgan.cli import build_parser

    parser = build_parser()
    lines = []
    if parser.description:
        lines += [parser.description, ""]
    lines += ["```text", _usage(parser), "```", ""]
    lines += ["| command | what |", "| --- | --- |"]
    subs = _subcommands(parser)
    lines += [f"| [{_code('condgan ' + n)}](#{_slug('condgan ' + n)}) | {_cell(h)} |" for n, h, _ in subs]
    lines.append("")
    if parser.epilog:
        lines += ["```text", inspect.cleandoc(parser.epilog), "```", ""]
    for name, help_text, sub in subs:
        lines += _command_section(["condgan", name], help_text, sub, 2)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- config


def field_comments(cls: type) -> dict[str, tuple[str, str]]:
    """{field: (meaning, section note)} from the class's source, read with tokenize.

    The meaning is the field's trailing comment, else the comment line just above it. Other comment
    lines directly above a field (a block without blank lines) are a note that opens a group of keys.
    """
    source = textwrap.dedent(inspect.getsource(cls))
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    alone: dict[int, str] = {}  # line -> a comment that is alone on its line
    trailing: dict[int, str] = {}  # line -> a comment after code
    fields: list[tuple[str, int, int]] = []  # (name, first line, last line)
    depth, line_start, previous = 0, True, None
    for index, token in enumerate(tokens):
        kind, text, line = token.type, token.string, token.start[0]
        if kind == tokenize.COMMENT:
            (alone if line_start else trailing)[line] = text.lstrip("#").strip()
            continue
        if kind in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            if kind == tokenize.NEWLINE and fields and fields[-1][2] == -1:
                fields[-1] = (fields[-1][0], fields[-1][1], line)
            if kind in (tokenize.NL, tokenize.NEWLINE):
                line_start = depth == 0
            continue
        if kind == tokenize.OP and text in "([{":
            depth += 1
        elif kind == tokenize.OP and text in ")]}":
            depth -= 1
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if line_start and kind == tokenize.NAME and following is not None and following.string == ":":
            if previous is None or previous.start[0] != line:  # `name: type ...` opens a field
                fields.append((text, line, -1))
        previous = token
        line_start = False
    comments: dict[str, tuple[str, str]] = {}
    for name, first, last in fields:
        after = [trailing[n] for n in range(first, max(first, last) + 1) if n in trailing]
        block = []
        n = first - 1
        while n in alone:
            block.insert(0, alone[n])
            n -= 1
        if after:
            comments[name] = (" ".join(after), " ".join(block))
        elif block:
            comments[name] = (block[-1], " ".join(block[:-1]))
        else:
            comments[name] = ("", "")
    return comments


def allowed_values(f: dataclasses.Field, annotation: object) -> str:
    """The words of the field's check (`metadata["check"]`, condgan.config) for a value it refuses."""
    check = f.metadata.get("check") if f.metadata else None
    if check is None or annotation is bool:
        return ""
    probes = {int: (-(10**12), 10**12), float: (float("nan"),), str: ("\x00",)}.get(annotation, ())  # type: ignore[call-overload]
    for probe in probes:
        try:
            words = check(probe)
        except Exception:  # a check that cannot take this probe says nothing here
            continue
        if words:
            return words
    return ""


def _type_name(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default_of(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, str):
        return '""' if value == "" else value
    return repr(value)


def config_reference() -> str:
    """Markdown tables of every config key: YAML path, type, default, per-task default, allowed values, meaning."""
    from condgan import config as config_module

    root = config_module.Config
    task_defaults = getattr(config_module, "TASK_DEFAULTS", {})
    hints = typing.get_type_hints(root)
    task_names = list(task_defaults)
    header, rule = "| key | default | meaning |", "| --- | --- | --- |"

    def task_default(task: str, key: str) -> str:
        section, _, leaf = key.rpartition(".")
        values = task_defaults[task].get(section, {}) if section else task_defaults[task]
        if not isinstance(values, dict) or leaf not in values:
            return ""
        return f"{_code(_yaml_value(values[leaf]))} with `--task {task}`"

    def rows(prefix: str, cls: type, names: list[str]) -> list[str]:
        comments = field_comments(cls)
        section_hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.name not in names:
                continue
            meaning, note = comments.get(f.name, ("", ""))
            meaning = (f.metadata.get("help") if f.metadata else None) or meaning
            if note:
                out.append(f"| **{_cell(note)}** | | |")
            annotation = section_hints[f.name]
            key = prefix + f.name
            defaults = [_code(_yaml_value(_default_of(f))), *filter(None, (task_default(t, key) for t in task_names))]
            allowed = allowed_values(f, annotation)
            what = _cell(meaning) + (f"<br>*Allowed:* {_cell(allowed)}." if allowed else "")
            out.append(f"| {_code(key)}<br>{_type_name(annotation)} | {'<br>'.join(defaults)} | {what} |")
        return out

    sections = [f for f in dataclasses.fields(root) if dataclasses.is_dataclass(hints[f.name])]
    top = [f.name for f in dataclasses.fields(root) if f not in sections]
    lines = []
    if top:
        lines += ["## Top level", "", header, rule, *rows("", root, top), ""]
    for f in sections:
        cls = hints[f.name]
        lines += [f"## {f.name}", "", f"`{f.name}.*` keys (`{cls.__name__}` in `condgan/config.py`).", ""]
        lines += [header, rule, *rows(f.name + ".", cls, [g.name for g in dataclasses.fields(cls)]), ""]
    return "\n".join(lines)
