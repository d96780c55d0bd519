"""Read rule files (TOML) into validated models, naming the file, line and field of a mistake."""

from __future__ import annotations

import re
import tomllib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from backhaul.kit.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<path>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(?P<key>(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.\- \"']+?))\s*=")
_TOML_AT = re.compile(r"\(at line (?P<line>\d+), column (?P<column>\d+)\)")


class ConfigError(ValidationFailed):
    """A rule file that cannot be used: which file, which line, which field, and why."""

    type_slug = "bad-config"
    title = "Invalid rule file"

    def __init__(self, source: str, line: int | None, field: str | None, message: str) -> None:
        where = f"{source}:{line}" if line else source
        detail = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(detail, field=field, file=source, line=line)
        self.source, self.line, self.message = source, line, message


def _split_dotted(path: str) -> list[str]:
    parts, current, quote = [], "", ""
    for char in path:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each table and key is defined: (path...) -> 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and "=" not in line.split("]")[0]:
            table = tuple(_split_dotted(header.group("path")))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*table, *_split_dotted(key.group("key")))
            lines.setdefault(path, number)
    return lines


def _line_of(lines: dict[tuple[str, ...], int], loc: tuple[Any, ...]) -> int | None:
    path = tuple(str(part) for part in loc if not isinstance(part, int))
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text as a dict, or ConfigError with the line of the syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_AT.search(message)
        line = int(found.group("line")) if found else None
        raise ConfigError(source, line, None, _TOML_AT.sub("", message).strip()) from None


def load_model(model: type[M], text: str, source: str, **context: Any) -> M:
    """Parse TOML text into `model`; the first mistake is raised with its file, line and field."""
    data = parse_toml(text, source)
    try:
        return model.model_validate(data, context=context or None)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first.get("loc", ()))
        field = ".".join(str(part) for part in loc) or None
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(source, _line_of(key_lines(text), loc), field, message) from None
