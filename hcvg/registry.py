"""A generic, queryable name -> object registry with lazy entries and entry points.

One class serves adapters, metrics, feature extractors, splits, datasets, paper tables
and table formats. Entries are either objects or lazy ``"package.module:attr"``
strings, resolved on first use, so that listing what exists never imports heavy
dependencies. `Registry.create` is the one place where options are coerced to the
constructor's annotated types (`hcvg.options`).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import logging
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterable, TypeVar

from hcvg.errors import UserError
from hcvg.options import coerce_options

logger = logging.getLogger(__name__)

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    """Raised when a name is not registered; the message suggests close matches (a user error)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps kebab-case names to objects (usually classes) of one kind.

    Args:
        kind: What is registered, used in messages ("adapter", "metric", ...).
        base: If given, every resolved entry must be a subclass (for classes) or an
            instance of it.
        entry_point_group: If given, ``load_entry_points`` reads third-party entries
            from this ``importlib.metadata`` group.
    """

    def __init__(self, kind: str, base: type | None = None, entry_point_group: str | None = None):
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Any] = {}
        self._frozen = False
        self._entry_points_loaded = False

    # -- writing ---------------------------------------------------------------
    def register(self, name: str, target: Any = None) -> Any:
        """Register ``target`` under ``name``; without ``target`` returns a decorator.

        Args:
            name: Registered name (kebab-case by convention).
            target: The object, or a lazy ``"module:attr"`` string.

        Raises:
            RuntimeError: If the registry is frozen.
            ValueError: If ``name`` is already registered to something else.
        """
        if target is None:
            return lambda obj: self.register(name, obj) or obj
        if self._frozen:
            raise RuntimeError(f"the {self.kind} registry is frozen; cannot register {name!r}")
        existing = self._entries.get(name)
        if existing is not None and existing is not target and not _same_lazy(existing, target):
            raise ValueError(f"{self.kind} {name!r} is already registered to {existing!r}")
        self._entries[name] = target
        return target

    def freeze(self) -> None:
        """Forbid further registration (useful once a run has started)."""
        self._frozen = True

    def load_entry_points(self, eps: Iterable[Any] | None = None) -> list[str]:
        """Register third-party entries from the entry-point group.

        Args:
            eps: Entry points to load; defaults to those installed in the group.

        Returns:
            The names added.
        """
        if eps is None:
            if self.entry_point_group is None or self._entry_points_loaded:
                return []
            eps = entry_points(group=self.entry_point_group)
            self._entry_points_loaded = True
        added = []
        for ep in eps:
            if ep.name in self._entries:
                logger.warning("%s %r from entry point %s shadows a built-in; ignored", self.kind, ep.name, ep.value)
                continue
            self._entries[ep.name] = ep.value  # "module:attr", resolved lazily
            added.append(ep.name)
        return added

    # -- reading ---------------------------------------------------------------
    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        self.load_entry_points()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: str) -> bool:
        self.load_entry_points()
        return name in self._entries

    def get(self, name: str) -> T:
        """Resolve ``name`` to its object, importing it if it was registered lazily.

        Raises:
            UnknownNameError: If ``name`` is not registered (with close matches).
            TypeError: If the resolved object is not of the registry's base type.
        """
        self.load_entry_points()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries)) or '(none)'}"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = _import_lazy(entry, f"{self.kind} {name!r}")
            self._check(name, entry)
            self._entries[name] = entry
        return entry

    def coerce(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """Check ``options`` against ``name``'s constructor and convert them to its types.

        CLI strings become the annotated types (see `hcvg.options`); already typed
        values are checked, so coercing twice gives the same result.

        Raises:
            UnknownNameError: If ``name`` is not registered.
            OptionError: On an option the constructor does not take, or a value its
                annotation does not allow (the message names both and what is accepted).
        """
        return coerce_options(self.get(name), options, f"{self.kind} {name!r}")

    def create(self, name: str, **options: Any) -> Any:
        """Resolve ``name`` and call it with the coerced keyword ``options`` (build an instance).

        Raises:
            UnknownNameError: If ``name`` is not registered.
            OptionError: If an option is not accepted or its value is not allowed.
            TypeError: If the result is not an instance of the registry's base type.
        """
        obj = self.get(name)(**self.coerce(name, options))
        if self.base is not None and not isinstance(obj, self.base):
            raise TypeError(f"{self.kind} {name!r} built {type(obj).__name__}, which is not a {self.base.__name__}")
        return obj

    def _check(self, name: str, obj: Any) -> None:
        if self.base is None:
            return
        ok = issubclass(obj, self.base) if isinstance(obj, type) else isinstance(obj, self.base)
        if not ok and callable(obj) and not isinstance(obj, type):
            ok = True  # factories returning instances are checked where they are called
        if not ok:
            raise TypeError(f"{self.kind} {name!r} resolved to {obj!r}, which is not a {self.base.__name__}")


def _same_lazy(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a == b


def _import_lazy(spec: str, what: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"{what}: lazy entry {spec!r} must look like 'package.module:attr'")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


Factory = Callable[..., T]
