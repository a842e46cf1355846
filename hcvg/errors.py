"""Errors a user can fix, told apart from bugs.

The CLI prints a `UserError` as one line (``error: ...``) and exits 2; anything else
is a bug and keeps its traceback. Subclasses also derive from the builtin that fits
(`ValueError`, `KeyError`, `FileNotFoundError`), so library callers can catch either.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a mistyped name or option, a missing file, a run that exists."""


class MissingExtraError(UserError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names the ``pip install`` command."""


def require(module: str, extra: str, what: str) -> None:
    """Import ``module`` or raise `MissingExtraError` naming the extra that brings it.

    Args:
        module: Importable module name, e.g. ``"transformers"``.
        extra: The handi-bench extra that installs it, e.g. ``"models"``.
        what: Who needs it, e.g. ``"the CLIP backbone"``.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module.split(".")[0] and err.name != module:
            raise  # a broken install of something else: keep the real error
        raise MissingExtraError(
            f"{what} needs {module!r}, which is not installed: pip install 'handi-bench[{extra}]'"
        ) from err


class InvalidInputError(UserError, ValueError):
    """An option, argument or input file holds a value that cannot be used; the message says which."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or folder the user named, or must prepare first, is not there; the message says how to make it."""
