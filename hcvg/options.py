"""Component options, coerced once from the constructor's own signature.

Options reach a component (adapter, split, metric, feature extractor, dataset loader)
as CLI strings (``folder:root=out,resize=true``) or as YAML values. `coerce_options`
reads the annotations of the constructor or factory that will receive them and turns
each value into the annotated type, so components declare their options only by
annotating their parameters, and never parse strings themselves:

* ``bool``: true/false, 1/0, yes/no, on/off, in any case;
* ``int``, ``float``: a number (an int is fine for a float);
* ``str``, ``pathlib.Path``: any text;
* ``Literal[...]``: one of the choices;
* ``X | None``: "none" or "null" for None, else an ``X``;
* ``tuple[X, ...]``, ``list[X]``: ``a|b|c`` items, or a YAML list;
* an ``enum.Enum``: a member's name or value.

YAML values are checked against the type the same way (an int passes for a float, a
list for a tuple). In a union that includes ``str``, text stays text.

Anything else (a ``torch.nn.Module``, a callable) cannot be written as text: a string
for it is an error, an object of the type passes. A factory taking ``**kwargs`` passes
names it does not declare on untouched (``motion-intensive`` hands its base split's
options to that split, which coerces them in turn).
"""

from __future__ import annotations

import difflib
import enum
import inspect
import pathlib
import types
import typing
from typing import Any, Callable, Literal, Union

from hcvg.errors import UserError

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
NONE_WORDS = ("none", "null")
ITEM_SEPARATOR = "|"  # between tuple/list items in CLI text; "," separates options


class OptionError(UserError, ValueError):
    """An option a component does not take, or a value its annotation does not allow."""


class _Rejected(Exception):
    """One annotation refused a value; the message says why, without the option's name."""


def options_from(config: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare that a ``**options`` factory takes exactly the fields of a config class.

    `coerce_options` (and ``inspect.signature``) then read ``config``'s constructor
    instead of the factory's, so the options are checked and typed like the fields.

    Args:
        config: A class, usually a dataclass, whose constructor the options go to.

    Returns:
        A decorator that marks the factory and returns it unchanged otherwise.
    """

    def mark(factory: Callable[..., Any]) -> Callable[..., Any]:
        factory.__wrapped__ = config  # type: ignore[attr-defined]  # followed by inspect.signature
        return factory

    return mark


def coerce_options(
    target: Callable[..., Any], options: dict[str, Any], what: str, require_all: bool = True
) -> dict[str, Any]:
    """Check ``options`` against ``target``'s signature and convert them to its types.

    Args:
        target: The class or factory that will be called with ``**options``.
        options: Option name → value: a CLI string, or a YAML / Python value.
        what: The component in messages, e.g. ``"adapter 'folder'"``.
        require_all: Refuse ``options`` that leave out a parameter without a default
            (False when the caller passes those itself).

    Returns:
        A new dict with the same names and the converted values; names that only a
        ``**kwargs`` parameter takes are passed on untouched.

    Raises:
        OptionError: On an option ``target`` does not take (the message lists the ones
            it takes, with close matches), a missing required one, or a value the
            annotation does not allow (the message names the option, the value and
            the accepted values).
        TypeError: If an annotation cannot be resolved (a bug in ``target``'s module).
    """
    parameters, takes_any = _parameters(target)
    hints: dict[Any, dict[str, Any] | None] = {}
    typed: dict[str, Any] = {}
    for name, value in options.items():
        found = parameters.get(name)
        if found is None:
            if takes_any:
                typed[name] = value
                continue
            raise OptionError(_unknown_message(what, name, list(parameters)))
        parameter, source = found
        if source not in hints:
            hints[source] = _type_hints(source)
        annotation = _annotation(parameter, hints[source], source, what)
        try:
            typed[name] = _coerce(value, annotation)
        except _Rejected as rejection:
            raise OptionError(f"{what}: option {name}={value!r} {rejection}") from None
    missing = [n for n, (p, _) in parameters.items() if p.default is inspect.Parameter.empty and n not in options]
    if missing and require_all:
        raise OptionError(
            f"{what}: missing required option(s) {', '.join(missing)} (accepted: {', '.join(parameters) or 'none'})"
        )
    return typed


# -- the signature -------------------------------------------------------------
def _parameters(target: Callable[..., Any]) -> tuple[dict[str, tuple[inspect.Parameter, Any]], bool]:
    """Keyword-passable parameters of what ``target(**options)`` calls, and ``**kwargs``.

    A constructor that takes ``**kwargs`` hands them to its base class (the usual
    subclass that sets a few options and forwards the rest), so the base's parameters
    are its options too, typed by the base's annotations: ``AnimateAnythingAdapter(mask,
    **options)`` takes ``HandiAdapter``'s ``steps: int``, converted from CLI text like
    the subclass's own.

    Returns:
        (name → (parameter, the class or function whose annotations type it), whether
        names beyond these are accepted).
    """
    source = _annotation_source(target)
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if not isinstance(source, type):
        params = list(inspect.signature(source).parameters.values())
        named = {p.name: (p, source) for p in params if p.kind in keyword}
        return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    named: dict[str, tuple[inspect.Parameter, Any]] = {}
    # Each class of the MRO with a constructor of its own, until one takes no **kwargs.
    for owner in source.__mro__:
        if "__init__" not in owner.__dict__:
            continue
        if owner is object:  # **kwargs that reach object.__init__ take nothing more
            return named, False
        params = list(inspect.signature(owner.__init__).parameters.values())[1:]  # drop self
        for p in params:
            if p.kind in keyword and p.name not in named:  # the subclass's own declaration wins
                named[p.name] = (p, owner)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return named, False
    return named, True


def _annotation_source(target: Callable[..., Any]) -> Any:
    """The callable whose annotations describe the options (see `options_from`)."""
    return inspect.unwrap(target) if not isinstance(target, type) else target


def _type_hints(source: Any) -> dict[str, Any] | None:
    """Resolved annotations of ``source``'s constructor, or None if some cannot resolve."""
    function = source.__init__ if isinstance(source, type) else source
    try:
        return typing.get_type_hints(function)
    except Exception:  # one unresolvable name: resolve the given options one by one
        return None


def _annotation(parameter: inspect.Parameter, hints: dict[str, Any] | None, source: Any, what: str) -> Any:
    if hints is not None:
        return hints.get(parameter.name, Any)
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation
    function = source.__init__ if isinstance(source, type) else source
    try:
        return eval(annotation, getattr(function, "__globals__", {}))  # noqa: S307 - the module's own annotation
    except Exception as err:
        raise TypeError(
            f"{what}: cannot resolve the annotation {annotation!r} of option {parameter.name!r} ({err}); "
            "import the type at module level so its options can be checked"
        ) from err


def _unknown_message(what: str, name: str, accepted: list[str]) -> str:
    close = difflib.get_close_matches(name, accepted, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{what}: unknown option {name!r}{hint} (accepted: {', '.join(accepted) or 'none'})"


# -- one value against one annotation --------------------------------------------
def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` converted to ``annotation``; raises `_Rejected` saying why not."""
    if annotation is Any or annotation is object or annotation is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return _coerce_union(value, typing.get_args(annotation))
    if origin is Literal:
        return _coerce_literal(value, typing.get_args(annotation))
    if origin is tuple or origin is list or annotation in (tuple, list):
        return _coerce_sequence(value, annotation)
    if origin is not None:  # dict[...], Callable[...], Sequence[...]: check the container only
        return _coerce_object(value, origin)
    if annotation is type(None):
        if value is None or (isinstance(value, str) and value.lower() in NONE_WORDS):
            return None
        raise _Rejected("must be none")
    if annotation is bool:
        return _coerce_bool(value)
    if annotation is int:
        return _coerce_int(value)
    if annotation is float:
        return _coerce_float(value)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Rejected(f"is not a string (a {type(value).__name__}; quote it in YAML)")
    if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
        if isinstance(value, (str, pathlib.PurePath)):
            return annotation(value)
        raise _Rejected(f"is not a path (a {type(value).__name__})")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _coerce_enum(value, annotation)
    if isinstance(annotation, type):
        return _coerce_object(value, annotation)
    if isinstance(annotation, typing.TypeVar) or callable(annotation):
        return value  # NewType or TypeVar: nothing to convert to
    raise _Rejected(f"has an annotation options cannot be checked against: {annotation!r}")


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    accepted = ", ".join(w for pair in zip(TRUE_WORDS, FALSE_WORDS) for w in pair)
    raise _Rejected(f"is not a boolean (accepted: {accepted})")


def _coerce_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Rejected("is not an integer")


def _coerce_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _Rejected("is not a number")


def _coerce_literal(value: Any, choices: tuple[Any, ...]) -> Any:
    for choice in choices:
        if type(value) is type(choice) and value == choice:
            return choice
    if isinstance(value, str):
        for choice in choices:  # text for a non-text choice, e.g. Literal[1, 2] from the CLI
            try:
                if not isinstance(choice, str) and _coerce(value, type(choice)) == choice:
                    return choice
            except _Rejected:
                continue
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), names, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise _Rejected(f"is not one of the choices{hint} (accepted: {', '.join(names)})")


def _coerce_union(value: Any, members: tuple[Any, ...]) -> Any:
    if type(None) in members and (value is None or (isinstance(value, str) and value.lower() in NONE_WORDS)):
        return None
    others = [m for m in members if m is not type(None)]
    if isinstance(value, str) and str in others:
        return value  # text that is acceptable as text stays text
    if len(others) == 1:  # X | None: X's own reason is the clearest
        return _coerce(value, others[0])
    reasons = []
    for member in others:
        try:
            return _coerce(value, member)
        except _Rejected as rejection:
            reasons.append(f"{_type_name(member)}: {rejection}")
    allowed = " or ".join(_type_name(m) for m in members)
    raise _Rejected(f"is not a valid {allowed} ({'; '.join(reasons)})")


def _coerce_sequence(value: Any, annotation: Any) -> tuple[Any, ...] | list[Any]:
    container = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(ITEM_SEPARATOR)] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Rejected(f"is not a list (give items as a{ITEM_SEPARATOR}b{ITEM_SEPARATOR}c, or a YAML list)")
    if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(items) != len(args):
            raise _Rejected(f"needs exactly {len(args)} items separated by {ITEM_SEPARATOR!r}, got {len(items)}")
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(items)
    converted = []
    for index, (item, item_type) in enumerate(zip(items, item_types)):
        try:
            converted.append(_coerce(item, item_type))
        except _Rejected as rejection:
            raise _Rejected(f"has item {index} {item!r} that {rejection}") from None
    return tuple(converted) if container is tuple else converted


def _coerce_enum(value: Any, annotation: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, annotation):
        return value
    for member in annotation:
        if value == member.value or value == member.name or (isinstance(value, str) and value == str(member.value)):
            return member
    raise _Rejected(f"is not one of the choices (accepted: {', '.join(str(m.value) for m in annotation)})")


def _coerce_object(value: Any, annotation: type) -> Any:
    if isinstance(value, annotation):
        return value
    if isinstance(value, str):
        raise _Rejected(f"cannot be given as text: it takes a {_type_name(annotation)} (pass it from Python)")
    raise _Rejected(f"is not a {_type_name(annotation)} (a {type(value).__name__})")


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", None) or str(annotation)
