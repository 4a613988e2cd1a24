"""`python -m bridge.scripted_agent`: the bundled scripted ACP agent on stdin/stdout."""

from bridge.scripted_agent.agent import main

main()
