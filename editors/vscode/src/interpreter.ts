// Which Python runs the language server: the `cwm.serverPython` setting, else the interpreter the
// Python extension has selected, else `python3`.

export type PythonSource = 'setting' | 'python-extension' | 'default';

export interface PythonChoice {
  /** Executable to spawn. */
  readonly command: string;
  /** Arguments that go before `-m cwm_lsp serve` (e.g. from a `conda run` exec command). */
  readonly prefixArgs: readonly string[];
  readonly source: PythonSource;
}

export const DEFAULT_PYTHON = 'python3';
export const SERVER_MODULE_ARGS: readonly string[] = ['-m', 'cwm_lsp', 'serve'];
export const IMPORT_CHECK_ARGS: readonly string[] = ['-c', 'import cwm_lsp'];

/**
 * @param configured value of `cwm.serverPython` (empty means unset)
 * @param fromPythonExtension the Python extension's exec command for the workspace, if it has one
 */
export function choosePython(configured: string | undefined, fromPythonExtension: readonly string[] | undefined): PythonChoice {
  const setting = configured?.trim();
  if (setting) {
    return { command: expandHome(setting), prefixArgs: [], source: 'setting' };
  }
  const exec = (fromPythonExtension ?? []).filter((part) => part.trim().length > 0);
  if (exec.length > 0) {
    return { command: exec[0], prefixArgs: exec.slice(1), source: 'python-extension' };
  }
  return { command: DEFAULT_PYTHON, prefixArgs: [], source: 'default' };
}

function expandHome(path: string): string {
  const home = process.env.HOME ?? process.env.USERPROFILE;
  if (home && (path === '~' || path.startsWith('~/'))) {
    return home + path.slice(1);
  }
  return path;
}

export function describeChoice(choice: PythonChoice): string {
  const where = {
    setting: 'from the cwm.serverPython setting',
    'python-extension': "the Python extension's selected interpreter",
    default: 'the default; set cwm.serverPython to choose another',
  }[choice.source];
  return `${[choice.command, ...choice.prefixArgs].join(' ')} (${where})`;
}

/** The shell command that installs the server into the chosen interpreter. */
export function pipInstallCommand(choice: PythonChoice): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [choice.command, ...choice.prefixArgs, '-m', 'pip', 'install', 'cwm-lsp'].map(quote).join(' ');
}

/** What to tell the user when `import cwm_lsp` failed in the chosen interpreter. */
export function missingServerMessage(choice: PythonChoice, detail: string): string {
  const firstLine = detail.trim().split('\n').filter((l) => l.trim()).pop() ?? '';
  return (
    `Prophecy: the cwm_lsp package is not installed in ${describeChoice(choice)}. ` +
    `Install it with: ${pipInstallCommand(choice)}` +
    (firstLine ? ` (${firstLine})` : '')
  );
}
