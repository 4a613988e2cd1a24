"""The core: sessions, turns, the warm-agent pool, permission policy and prompts. No LSP, no concrete backend."""
