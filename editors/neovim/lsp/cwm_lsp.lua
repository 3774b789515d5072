-- Neovim 0.11+: vim.lsp.config('cwm_lsp', { settings = { cwm = { ... } } }) and
-- vim.lsp.enable('cwm_lsp'), with editors/neovim on 'runtimepath'.
return {
  cmd = { 'python3', '-m', 'cwm_lsp', 'serve' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', '.git' },
  settings = {
    cwm = {
      backend = 'auto',
      allowExecution = false,
    },
  },
  -- The server also reads the settings at initialize, so the first request already sees them.
  before_init = function(params, config)
    params.initializationOptions = config.settings
  end,
  handlers = {
    ['cwm/status'] = function(...)
      return require('cwm_lsp').on_model_status(...)
    end,
  },
  on_attach = function(client, bufnr)
    require('cwm_lsp').on_attach(client, bufnr)
  end,
}
