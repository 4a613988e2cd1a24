"""The opencode transport: one warm `opencode serve` per configuration, HTTP requests and an SSE event stream."""
