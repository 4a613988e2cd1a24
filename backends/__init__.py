"""Agent transports behind one interface (`backends.base.AgentBackend`)."""
