"""The ACP transport: any agent speaking the Agent Client Protocol over stdio, via the ACP SDK."""
