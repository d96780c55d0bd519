"""Plumbing every `backhaul` command shares: consoles, one transaction per command, errors as
messages, input parsing and the progress bar."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from backhaul.kit.auth import Actor, cli_actor
from backhaul.kit.errors import DomainError

out = Console()
err = Console(stderr=True)
M = TypeVar("M", bound=BaseModel)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error on standard error and leave with `code` (2: the input was wrong)."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def transaction(write: bool = True) -> Iterator[tuple[Session, Actor]]:
    """One transaction per command, acting as the operator at the shell; errors become messages."""
    from backhaul.db import session_scope

    actor = cli_actor(os.environ.get("USER") or getpass.getuser() or "cli")
    try:
        with session_scope(write=write) as session:
            yield session, actor
    except DomainError as error:
        where = f"{error.field}: " if error.field else ""
        fail(f"{where}{error.detail}")


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate input for a command; a bad field is named in the message."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
        )
        fail(problems)


def progress_bar(total: int | None = None) -> Progress:
    """The progress bar every long command shows (on standard error)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and total is None,
    )
