"""One cattrs converter for the wire: camelCase both ways, None defaults left out, strict validation with
messages that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from bridge.errors import InvalidArguments
from bridge.protocol.commands import (
    Attachment,
    FieldError,
    FileUri,
    NonEmptyStr,
    NonNegativeInt,
    OptionValue,
    Position,
    PositiveSeconds,
    Range,
    StrictBool,
    camel,
)
from bridge.protocol.events import UsageEvent
from bridge.uris import printable


def _checked(type_: Any, check: Any, message: str, convert: Any = None) -> None:
    def structure(value: Any, _: Any) -> Any:
        if value is None:
            raise FieldError(MISSING.get(type_, "is required"))
        if not check(value):
            raise FieldError(message.format(value=value))
        return convert(value) if convert else value

    converter.register_structure_hook(type_, structure)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MISSING: dict[Any, str] = {
    NonEmptyStr: "is required",
    OptionValue: "is required (a string or a boolean)",
    FileUri: "is required",
    NonNegativeInt: "must be a non-negative integer",
    Position: "must be an object {line, character}",
    Range: "must be an object {start, end}",
}

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
_checked(NonEmptyStr, lambda v: isinstance(v, str) and v.strip(), "must be a non-empty string, got {value!r}")
_checked(NonNegativeInt, lambda v: _is_int(v) and v >= 0, "must be a non-negative integer")
_checked(
    PositiveSeconds,
    lambda v: (_is_int(v) or isinstance(v, float)) and v > 0,
    "must be a positive number of seconds",
    float,
)
_checked(StrictBool, lambda v: isinstance(v, bool), "must be true or false, got {value!r}")


def _structure_uri(value: Any, _: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"must be a non-empty string, got {value!r}")
    if not value.startswith("file:"):
        raise FieldError(f"must be a file: URI, got {value!r}")
    return value


converter.register_structure_hook(FileUri, _structure_uri)


def _structure_option_value(value: Any, _: Any) -> str | bool:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return value
    raise FieldError(f"must be a non-empty string or a boolean, got {value!r}")


converter.register_structure_hook_func(lambda t: t == OptionValue, _structure_option_value)


def _object_hook(cls: type, shape: str) -> None:
    inner: Any = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise FieldError(f"must be an object {shape}")
        return inner(value, cls)

    converter.register_structure_hook(cls, structure)


_object_hook(Position, "{line, character}")
_object_hook(Range, "{start, end}")


def _unstructure_hook(cls: type) -> Any:
    fields = attrs.fields(cls)
    overrides = {
        f.name: override(rename=camel(f.name), omit_if_default=f.default is None) for f in fields
    }
    inner: Any = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    kind = getattr(cls, "kind", "")

    def unstructure(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = inner(value)
        if kind:
            data["kind"] = kind
        return data

    return unstructure


def _structure_hook(cls: type) -> Any:
    overrides = {f.name: override(rename=camel(f.name)) for f in attrs.fields(cls)}
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **overrides)  # type: ignore[arg-type]


converter.register_unstructure_hook_factory(attrs.has, _unstructure_hook)


def _flat_usage(event: UsageEvent) -> dict[str, Any]:
    head = {"sessionId": event.session_id, "turnId": event.turn_id, "agent": event.agent, "kind": event.kind}
    return {**head, **converter.unstructure(event.usage)}


converter.register_unstructure_hook(UsageEvent, _flat_usage)
# Every text the editor gets is valid UTF-8: file names that are not are shown escaped (URIs keep their bytes).
converter.register_unstructure_hook(str, printable)
converter.register_structure_hook_factory(
    lambda t: attrs.has(t) and t not in (Position, Range), _structure_hook
)


def _list_hook(item: type, shape: str) -> None:
    """A list of objects, each checked to be one first: cattrs would iterate a string, or fail on a number with
    an AttributeError, and neither says what was expected."""
    inner: Any = _structure_hook(item)

    def structure_item(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise FieldError(f"must be an object {shape}")
        return inner(value, item)

    converter.register_structure_hook(item, structure_item)
    default: Any = converter.get_structure_hook(list[item])  # type: ignore[valid-type]

    def structure(value: Any, type_: Any) -> Any:
        if not isinstance(value, list):
            raise FieldError(f"must be a list of objects {shape}")
        return default(value, type_)

    converter.register_structure_hook_func(lambda t: t == list[item], structure)  # type: ignore[valid-type]


_list_hook(Attachment, "{uri, range?}")


def single_argument(command: str, arguments: list[Any] | None) -> Mapping[str, Any]:
    """The one object argument every command takes (a missing argument counts as `{}`, and so does `[]`: Lua
    encodes an empty table as an empty array, so a Neovim user's `arguments = { {} }` arrives as `[[]]`)."""
    if not arguments:
        return {}
    if len(arguments) != 1:
        raise InvalidArguments(f"{command} takes one object argument, got {len(arguments)} arguments")
    arg = arguments[0]
    if hasattr(arg, "_asdict"):  # pygls hands unknown structures over as namedtuples
        arg = plain(arg)
    if isinstance(arg, list | tuple) and not arg:
        return {}
    if not isinstance(arg, Mapping):
        raise InvalidArguments(f"{command} takes one object argument, got {type(arg).__name__}")
    return arg


def plain(value: Any) -> Any:
    """JSON as dicts and lists: pygls gives structures it has no type for as (nested) namedtuples."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_json(value: Any) -> Any:
    """A result or event as the JSON the editor gets."""
    return converter.unstructure(value)


T = TypeVar("T")


def parse(command: str, value: Mapping[str, Any], cls: type[T]) -> T:
    """One command argument as its typed class, or InvalidArguments saying exactly what was wrong."""
    try:
        return converter.structure(dict(value), cls)
    except FieldError as exc:  # raised by a class's own cross-field check
        raise InvalidArguments(f"{command}: {exc}") from None
    except ClassValidationError as exc:
        raise InvalidArguments(f"{command}: {_explain(exc, cls)}") from None


def _json_names(cls: type) -> list[str]:
    return sorted(camel(f.name) for f in attrs.fields(cls))


def _leaves(exc: BaseException, path: tuple[str, ...], cls: Any) -> list[tuple[tuple[str, ...], Any, BaseException]]:
    if isinstance(exc, ClassValidationError):
        found = []
        for sub in exc.exceptions:
            notes = [n for n in getattr(sub, "__notes__", []) if hasattr(n, "name")]
            if notes:
                found.extend(_leaves(sub, (*path, camel(notes[0].name)), notes[0].type))
            else:
                found.extend(_leaves(sub, path, cls))
        return found
    if isinstance(exc, IterableValidationError):  # `field[i]`, then whatever was wrong with that item
        found = []
        for sub in exc.exceptions:
            notes = [n for n in getattr(sub, "__notes__", []) if hasattr(n, "index")]
            where = (*path[:-1], f"{path[-1] if path else ''}[{notes[0].index}]") if notes else path
            found.extend(_leaves(sub, where, notes[0].type if notes else cls))
        return found
    return [(path, cls, exc)]


def _explain(exc: ClassValidationError, cls: type) -> str:
    leaves = _leaves(exc, (), cls)
    # Unknown fields first: a misspelt name explains the "missing" field that follows from it.
    leaves.sort(key=lambda leaf: not isinstance(leaf[2], ForbiddenExtraKeysError))
    path, type_, error = leaves[0]
    where = ".".join(path)
    if isinstance(error, ForbiddenExtraKeysError):
        unknown = ", ".join(sorted(error.extra_fields))
        expected = ", ".join(_json_names(error.cl)) if attrs.has(error.cl) else ""
        message = f"unknown field(s) {unknown}; expected {expected}" if expected else f"unknown field(s) {unknown}"
        return f"'{where}': {message}" if where else message
    if isinstance(error, FieldError):
        return f"'{where}' {error}" if where else str(error)
    if isinstance(error, KeyError):
        return f"'{where}' {MISSING.get(_base(type_), 'is required')}"
    return f"'{where}' has the wrong type ({error})"


def _base(type_: Any) -> Any:
    """The checked type inside `X | None`."""
    args = [a for a in getattr(type_, "__args__", ()) if a is not type(None)]
    return args[0] if len(args) == 1 else type_
