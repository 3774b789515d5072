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
  on_attach = function(client, bufnr)
    require('cwm_lsp').on_attach(client, bufnr)
  end,
}
