"""The wire: every command's argument and result and every `agentBridge/event` kind, as attrs classes.

One cattrs converter turns them into camelCase JSON and back (as jedi-language-server does for its
initialization options). Fields defaulting to None are left out of the JSON when None; fields without a
default are always sent (as null when None). Structuring never coerces: a wrong type is an error whose
message names the field (`'range.start.line' must be a non-negative integer`), prefixed with the command.
Names and payloads are documented in docs/protocol.md.
"""

from bridge.protocol.commands import *  # noqa: F403
from bridge.protocol.convert import parse as parse
from bridge.protocol.convert import plain as plain
from bridge.protocol.convert import single_argument as single_argument
from bridge.protocol.convert import to_json as to_json
from bridge.protocol.events import *  # noqa: F403
