"""The bundled scripted ACP agent: a real ACP agent process driven by directives in the prompt.

The product reaches it only as an agent command (the `scripted` built-in of the registry, and the demo);
nothing in bridge imports it.
"""
