"""The one place the bridge's errors become JSON-RPC errors (see bridge.errors for the tree)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from bridge.errors import BridgeError, InvalidArguments, UnknownSession, UnknownTurn

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but could not be carried out

R = TypeVar("R")


def to_jsonrpc(exc: BridgeError) -> JsonRpcException:
    if isinstance(exc, InvalidArguments | UnknownSession | UnknownTurn):
        return JsonRpcInvalidParams(str(exc))
    return JsonRpcException(str(exc), REQUEST_FAILED)


def bridge_errors(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """A command handler whose BridgeErrors reach the editor as JSON-RPC errors saying what went wrong."""

    @wraps(fn)
    async def wrapper(*args: Any) -> R:
        try:
            return await fn(*args)
        except BridgeError as exc:
            raise to_jsonrpc(exc) from None

    return wrapper
