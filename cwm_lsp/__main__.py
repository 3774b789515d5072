from cwm_lsp.cli import main

raise SystemExit(main())
