"""The return-reason taxonomy (data/reasons.toml): two levels, dotted codes, five languages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backhaul.returns.config import load_model

LANGUAGES = ("en", "de", "fr", "es", "ja")
DATA = Path(__file__).parent / "data" / "reasons.toml"
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,29}$")]


class Labels(BaseModel):
    """A label in every portal language."""

    model_config = ConfigDict(extra="forbid")

    en: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    de: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    fr: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    es: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    ja: Annotated[str, StringConstraints(min_length=1, max_length=120)]


class ReasonEntry(BaseModel):
    """One reason inside a category."""

    model_config = ConfigDict(extra="forbid")

    label: Labels


class CategoryEntry(BaseModel):
    """A category of reasons and how the rules treat it."""

    model_config = ConfigDict(extra="forbid")

    label: Labels
    change_of_mind: bool = False
    warranty: bool = False
    photos: bool = False
    setup_help: bool = False
    reasons: dict[Slug, ReasonEntry] = Field(min_length=1)


class TaxonomyFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    categories: dict[Slug, CategoryEntry] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason as the rules and pages use it."""

    code: str
    category: str
    label: dict[str, str]
    category_label: dict[str, str]
    change_of_mind: bool
    warranty: bool
    photos: bool
    setup_help: bool

    def in_language(self, language: str) -> str:
        """The label in `language` (English when it has none)."""
        return self.label.get(language) or self.label["en"]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Every reason by code, in file order."""

    version: int
    reasons: dict[str, Reason]

    def get(self, code: str) -> Reason | None:
        """The reason with this dotted code, or None."""
        return self.reasons.get(code)

    def categories(self) -> list[tuple[str, dict[str, str], list[Reason]]]:
        """(category, its labels, its reasons), in file order."""
        grouped: dict[str, list[Reason]] = {}
        for reason in self.reasons.values():
            grouped.setdefault(reason.category, []).append(reason)
        return [(name, items[0].category_label, items) for name, items in grouped.items()]


def parse(text: str, source: str) -> Taxonomy:
    """A taxonomy from TOML text (ConfigError names the file, line and field of a mistake)."""
    data = load_model(TaxonomyFile, text, source)
    reasons: dict[str, Reason] = {}
    for category, entry in data.categories.items():
        for slug, item in entry.reasons.items():
            reasons[f"{category}.{slug}"] = Reason(
                code=f"{category}.{slug}",
                category=category,
                label=item.label.model_dump(),
                category_label=entry.label.model_dump(),
                change_of_mind=entry.change_of_mind,
                warranty=entry.warranty,
                photos=entry.photos,
                setup_help=entry.setup_help,
            )
    return Taxonomy(data.version, reasons)


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    """The taxonomy this installation uses (the packaged file, or the config dir's reasons.toml)."""
    from backhaul.settings import get_settings

    configured = get_settings().returns_config_dir
    path = configured / "reasons.toml" if configured else None
    source = path if path is not None and path.is_file() else DATA
    return parse(source.read_text(encoding="utf-8"), str(source))
