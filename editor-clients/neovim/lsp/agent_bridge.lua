-- Neovim 0.11+ `vim.lsp.config` runtime file: the plugin's client configuration, built from setup()'s options.
-- Override any field with vim.lsp.config("agent_bridge", { ... }) in your config.
return require("agent_bridge.client").lsp_config()
