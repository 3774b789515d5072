// The optional Python extension (ms-python.python): which interpreter it has selected, and when
// that changes. Everything here copes with the extension being absent or failing.

import * as vscode from 'vscode';

export interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath?(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment?(env: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] } | undefined;
  };
}

export async function pythonExtensionApi(log: (message: string) => void): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!extension) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch (error) {
    log(`the Python extension did not activate: ${String(error)}`);
    return undefined;
  }
}

/** The selected interpreter as an exec command (usually one path), or undefined. */
export async function interpreterFromPythonExtension(log: (message: string) => void, resource?: vscode.Uri): Promise<string[] | undefined> {
  const api = await pythonExtensionApi(log);
  try {
    const active = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (active && api?.environments?.resolveEnvironment) {
      const resolved = await api.environments.resolveEnvironment(active);
      const executable = resolved?.executable?.uri?.fsPath;
      if (executable) {
        return [executable];
      }
    }
    const command = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
    return command && command.length > 0 ? command : undefined;
  } catch (error) {
    log(`could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}
