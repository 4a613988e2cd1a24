"""The one place the bridge's errors become JSON-RPC errors (see bridge.errors for the tree)."""

from __future__ import annotations

from typing import TypeVar

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from bridge.errors import BridgeError, InvalidArguments, UnknownSession
from bridge.uris import printable

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but could not be carried out

R = TypeVar("R")


def to_jsonrpc(exc: BridgeError) -> JsonRpcException:
    message = printable(str(exc))  # it may name a file whose name is not UTF-8
    if isinstance(exc, InvalidArguments | UnknownSession):
        return JsonRpcInvalidParams(message)
    return JsonRpcException(message, REQUEST_FAILED)
