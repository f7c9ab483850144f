"""The reader interface and the registry of dataset readers.

A reader turns a dataset's original files into an :class:`InteractionLog` in two
phases: :meth:`DatasetReader.parse` reads and checks every file (collecting all
problems, so bad input fails before anything long starts), then
:meth:`DatasetReader.build` normalises the checked tables. Readers register
themselves with :func:`register`; the CLI and :func:`rayrec.data.load_dataset`
look them up by name with :func:`get_reader`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rayrec.data.io import display_name, find_file, read_bytes
from rayrec.data.parsing import ParsedTable, TableFormat, parse_table
from rayrec.data.schema import InteractionLog
from rayrec.errors import InputError, ProblemCollector

#: What :meth:`DatasetReader.parse` hands to :meth:`DatasetReader.build`.
Parsed = dict[str, Any]


class DatasetReader(ABC):
    """Reads one dataset from its original files under ``root``.

    Class attributes:
        name: registry name used on the command line (``ml-1m``).
        aliases: other accepted names.
        title: human-readable name for messages and docs.
        default_dir: folder name under ``$RAYREC_DATA`` when no path is given.
        version: bump when the produced log changes, to invalidate caches.
        homepage: where users get the files.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str]
    default_dir: ClassVar[str]
    version: ClassVar[int] = 1
    homepage: ClassVar[str] = ""

    def __init__(self, root: Path) -> None:
        if not root.exists():
            raise InputError(f"{root}: dataset directory not found (for {self.title})")
        if not root.is_dir():
            raise InputError(f"{root}: expected a directory holding the {self.title} files")
        self.root = root

    @abstractmethod
    def source_files(self) -> list[Path]:
        """The files this reader will read (resolved, compressed variants included).

        Raises:
            InputError: naming the file that is missing.
        """

    @abstractmethod
    def parse(self, problems: ProblemCollector) -> Parsed:
        """Read and check every source file, adding problems to ``problems``."""

    @abstractmethod
    def build(self, parsed: Parsed) -> InteractionLog:
        """Normalise checked tables into an :class:`InteractionLog`."""

    def options_key(self) -> str:
        """Reader options that change the output (part of the cache key)."""
        return ""

    # ---------------------------------------------------------------- helpers
    def validate(self) -> None:
        """Check every file; raise one :class:`DataValidationError` listing problems."""
        problems = ProblemCollector()
        self.parse(problems)
        problems.raise_if_any()

    def read(self) -> InteractionLog:
        """Validate, then build the log (nothing is built from invalid input)."""
        problems = ProblemCollector()
        parsed = self.parse(problems)
        problems.raise_if_any()
        log = self.build(parsed)
        log.meta.setdefault("dataset", self.name)
        log.meta.setdefault("title", self.title)
        log.meta.setdefault(
            "source_files", [display_name(p, self.root) for p in self.source_files()]
        )
        log.meta.setdefault("source_dir", str(self.root))
        return log

    def find(
        self, *names: str, required: bool = True, siblings: Mapping[str, str] | None = None
    ) -> Path | None:
        """The first present variant of ``names``.

        Args:
            siblings: file name -> reader name of other variants of this dataset; when
                the file is missing but a sibling's file is here, the error says which
                reader to use instead.
        """
        try:
            return find_file(self.root, names, required=required)
        except InputError as exc:
            for other, reader_name in (siblings or {}).items():
                if find_file(self.root, other, required=False) is not None:
                    raise InputError(
                        f"{exc} (this folder holds '{other}': read it as '{reader_name}')"
                    ) from None
            raise

    def find_required(self, name: str, siblings: Mapping[str, str] | None = None) -> Path:
        """Like :meth:`find` for one required file, typed as a Path."""
        path = self.find(name, siblings=siblings)
        assert path is not None
        return path

    def shown(self, path: Path) -> str:
        return display_name(path, self.root)

    def parse_file(self, path: Path, fmt: TableFormat, problems: ProblemCollector) -> ParsedTable:
        return parse_file(path, self.root, fmt, problems)


def parse_file(path: Path, root: Path, fmt: TableFormat, problems: ProblemCollector) -> ParsedTable:
    """Read one table file and :func:`parse_table` it, problems named relative to ``root``."""
    shown = display_name(path, root)
    return parse_table(read_bytes(path, shown_as=shown), fmt, shown, problems)


R = TypeVar("R", bound=type[DatasetReader])

#: the generated datasets (no reader, no files): ``rayrec.data.datasets.load_dataset``
GENERATED: tuple[str, ...] = ("synthetic", "synthetic-sessions")

READERS: dict[str, type[DatasetReader]] = {}


def register(cls: R) -> R:
    """Class decorator adding a reader to :data:`READERS` under its name and aliases."""
    for key in (cls.name, *cls.aliases):
        if key in READERS and READERS[key] is not cls:
            raise ValueError(f"dataset name '{key}' registered twice")
        READERS[key] = cls
    return cls


def dataset_names() -> list[str]:
    """Primary names of all registered readers plus the :data:`GENERATED` ones."""
    _import_all()
    return sorted({cls.name for cls in READERS.values()} | set(GENERATED))


def get_reader(name: str) -> type[DatasetReader]:
    """Look up a reader by name or alias.

    Raises:
        InputError: listing the known names.
    """
    _import_all()
    try:
        return READERS[name.lower()]
    except KeyError:
        raise InputError(
            f"unknown dataset '{name}'; expected one of: {', '.join(dataset_names())}"
        ) from None


def _import_all() -> None:
    # Importing the package registers every reader module it lists.
    import rayrec.data.readers  # noqa: F401
