"""The one place the bridge's errors become JSON-RPC errors (see bridge.errors for the tree)."""

from __future__ import annotations

from typing import TypeVar

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from bridge.errors import BridgeError, InvalidArguments, UnknownSession

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but could not be carried out

R = TypeVar("R")


def to_jsonrpc(exc: BridgeError) -> JsonRpcException:
    if isinstance(exc, InvalidArguments | UnknownSession):
        return JsonRpcInvalidParams(str(exc))
    return JsonRpcException(str(exc), REQUEST_FAILED)
