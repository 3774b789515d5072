// Glue between VS Code and the cwm-lsp language server. The decisions live in small pure modules
// (interpreter, settings, status, predictArgs) that the unit tests cover; this file wires
// them to the editor.

import { execFile } from 'child_process';
import * as vscode from 'vscode';
import {
  CodeAction,
  CodeActionRequest,
  CodeActionTriggerKind,
  Command,
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import { showProgress } from './progress';
import { interpreterFromPythonExtension, pythonExtensionApi } from './pythonExtension';
import { IMPORT_CHECK_ARGS, PythonChoice, SERVER_MODULE_ARGS, choosePython, describeChoice, missingServerMessage, pipInstallCommand } from './interpreter';
import { ADD_EXAMPLE_CHOICE, ADD_EXAMPLE_TITLE, Cursor, INVENT_CHOICE, argumentsFor, choiceLabel, inputQuestion, parseIteration, predictionChoices, verifyChoice } from './predictArgs';
import { toServerSettings } from './settings';
import { ModelStatus, StatusModel, statusView } from './status';

const SECTION = 'cwm';
const PYTHON_SELECTOR = [
  { scheme: 'file', language: 'python' },
  { scheme: 'untitled', language: 'python' },
];

let client: LanguageClient | undefined;
let stopping = false;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
const statusModel = new StatusModel();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('Prophecy (cwm-lsp)');
  statusItem = vscode.window.createStatusBarItem('cwm.status', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'Prophecy (cwm-lsp)';
  statusItem.command = 'cwm.showLog';
  renderStatus();
  statusItem.show();
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('cwm.restartServer', () => restartServer()),
    vscode.commands.registerCommand('cwm.showLog', () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration((event) => onConfigurationChanged(event)),
  );
  await watchPythonExtension(context);
  await startServer();
}

export async function deactivate(): Promise<void> {
  removePlaceholders();
  await stopServer();
}

function renderStatus(): void {
  const view = statusView(statusModel.phase());
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.accessibilityInformation = { label: view.label };
  statusItem.backgroundColor = view.isError ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
}

function setPhase(phase: Parameters<StatusModel['setBase']>[0]): void {
  statusModel.setBase(phase);
  renderStatus();
}

function log(message: string): void {
  output.appendLine(`[client ${new Date().toISOString()}] ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Choosing and checking the interpreter

async function watchPythonExtension(context: vscode.ExtensionContext): Promise<void> {
  const api = await pythonExtensionApi(log);
  const event = api?.environments?.onDidChangeActiveEnvironmentPath;
  if (event) {
    context.subscriptions.push(
      event(() => {
        const configured = vscode.workspace.getConfiguration(SECTION).get<string>('serverPython');
        if (!configured?.trim()) {
          log('the selected Python interpreter changed; restarting the server');
          void restartServer();
          return;
        }
        // the server still runs where it is; sandboxed runs follow the selected interpreter
        void refreshEditorPython().then(() => {
          if (client?.state === State.Running) {
            void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: serverSettings() } });
          }
        });
      }),
    );
  }
}

async function choosePythonNow(): Promise<PythonChoice> {
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const configured = vscode.workspace.getConfiguration(SECTION, resource).get<string>('serverPython');
  const fromExtension = await refreshEditorPython();
  return choosePython(configured, configured?.trim() ? undefined : fromExtension);
}

/** The Python extension's selected interpreter, kept for the server's sandboxed runs
 * (`editorPythonPath`: used after the project's own venv, before cwm-lsp's interpreter). */
let editorPython: string | undefined;

async function refreshEditorPython(): Promise<string[] | undefined> {
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const fromExtension = await interpreterFromPythonExtension(log, resource);
  editorPython = fromExtension?.length === 1 ? fromExtension[0] : undefined;
  return fromExtension;
}

/** The server's working directory; the import check runs there too (`-m` imports from it). */
function serverCwd(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function checkServerImport(choice: PythonChoice): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(choice.command, [...choice.prefixArgs, ...IMPORT_CHECK_ARGS], { timeout: 60_000, cwd: serverCwd() }, (error, _stdout, stderr) => {
      resolve(error ? `${stderr || ''}\n${error.message}` : undefined);
    });
  });
}

async function reportMissingServer(choice: PythonChoice, detail: string): Promise<void> {
  const message = missingServerMessage(choice, detail);
  log(message);
  log(detail.trim());
  setPhase({ kind: 'error', message: 'cwm_lsp is not installed in the chosen Python' });
  const copy = 'Copy pip command';
  const settings = 'Choose Python…';
  const picked = await vscode.window.showErrorMessage(message, copy, settings);
  if (picked === copy) {
    await vscode.env.clipboard.writeText(pipInstallCommand(choice));
  } else if (picked === settings) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'cwm.serverPython');
  }
}

// ---------------------------------------------------------------------------------------------
// Settings

function serverSettings(scope?: vscode.Uri): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const { settings, problems } = toServerSettings((key) => config.get(key));
  for (const problem of problems) {
    log(problem);
  }
  return editorPython ? { ...settings, editorPythonPath: editorPython } : settings;
}

function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
  if (event.affectsConfiguration('cwm.serverPython')) {
    log('cwm.serverPython changed; restarting the server');
    void restartServer();
    return;
  }
  if (event.affectsConfiguration(SECTION) && client?.state === State.Running) {
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: serverSettings() } });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands invoked without arguments (command palette, keybindings)

function cursorOf(editor: vscode.TextEditor | undefined): Cursor | undefined {
  if (!editor || editor.document.languageId !== 'python' || !client) {
    return undefined;
  }
  return { uri: client.code2ProtocolConverter.asUri(editor.document.uri), line: editor.selection.active.line };
}

async function serverActionsAt(cursor: Cursor): Promise<(Command | CodeAction)[]> {
  if (!client) {
    return [];
  }
  const position = { line: cursor.line, character: 0 };
  const result = await client.sendRequest(CodeActionRequest.type, {
    textDocument: { uri: cursor.uri },
    range: { start: position, end: position },
    context: { diagnostics: [], triggerKind: CodeActionTriggerKind.Invoked },
  });
  return result ?? [];
}

async function executeWithoutArguments(command: string, next: (command: string, args: unknown[]) => unknown): Promise<unknown> {
  const cursor = cursorOf(vscode.window.activeTextEditor);
  if (!cursor) {
    void vscode.window.showWarningMessage('Prophecy: put the cursor inside a function of a Python file first.');
    return undefined;
  }
  if (command === 'cwm.predict') {
    const actions = await serverActionsAt(cursor);
    const question = inputQuestion(actions as never);
    if (question !== undefined) {
      return askForInputs(actions, question, next);
    }
    const choices = predictionChoices(actions as never);
    if (choices.length === 1) {
      return next(choices[0].command, choices[0].arguments ?? []);
    }
    if (choices.length > 1) {
      const picked = await vscode.window.showQuickPick(
        choices.map((choice) => ({ label: choiceLabel(choice), choice })),
        { placeHolder: 'Which example call should Prophecy predict?' },
      );
      return picked ? next(picked.choice.command, picked.choice.arguments ?? []) : undefined;
    }
  }
  if (command === 'cwm.verify') {
    const choice = verifyChoice((await serverActionsAt(cursor)) as never);
    if (choice) {
      return next(choice.command, choice.arguments ?? []);
    }
  }
  let iteration: number | null | undefined;
  if (command === 'cwm.showIteration') {
    const typed = await vscode.window.showInputBox({
      prompt: 'Show the values of which pass of the loop around this line? (1 = first; empty = all)',
      validateInput: (text) => (parseIteration(text) === undefined ? 'Type a whole number, 1 or more, or nothing for all' : undefined),
    });
    if (typed === undefined) {
      return undefined;
    }
    iteration = parseIteration(typed);
  }
  return next(command, argumentsFor(command, [], cursor, iteration) ?? []);
}

/** No example call: ask whether to write one or let the model invent the inputs. */
async function askForInputs(
  actions: (Command | CodeAction)[],
  answers: string[],
  next: (command: string, args: unknown[]) => unknown,
): Promise<unknown> {
  if (answers.length === 0) {
    return undefined;
  }
  const picked = await vscode.window.showInformationMessage('Prophecy: this function has no example call.', ...answers);
  if (picked === INVENT_CHOICE) {
    const invent = predictionChoices(actions as never)[0];
    return next(invent.command, invent.arguments ?? []);
  }
  if (picked === ADD_EXAMPLE_CHOICE && client) {
    const add = actions.find((action): action is CodeAction => action.title === ADD_EXAMPLE_TITLE && 'edit' in action && action.edit !== undefined);
    if (add?.edit) {
      const edit = await client.protocol2CodeConverter.asWorkspaceEdit(add.edit);
      await vscode.workspace.applyEdit(edit);
      const editor = vscode.window.activeTextEditor;
      const inserted = add.edit.changes ? Object.values(add.edit.changes)[0]?.[0] : undefined;
      if (editor && inserted) {
        const line = editor.document.lineAt(inserted.range.start.line);
        editor.selection = new vscode.Selection(line.range.end, line.range.end);
      }
      void vscode.window.showInformationMessage('Prophecy: fill in the example call, then predict again.');
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Progress: drives the status bar and shows a cancellable notification

function trackProgress(languageClient: LanguageClient, token: string | number): void {
  showProgress(languageClient, token, (value) => {
    statusModel.progress(token, value);
    renderStatus();
  }, log);
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping the server

function middleware(): Middleware {
  return {
    workspace: {
      configuration: async (params, token, next) => {
        const answers = await next(params, token);
        if (!Array.isArray(answers)) {
          return answers;
        }
        return params.items.map((item, index) => {
          if (item.section !== SECTION) {
            return answers[index];
          }
          const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
          return serverSettings(scope);
        });
      },
    },
    executeCommand: async (command, args, next) => {
      if (command === 'cwm.showAllRuns') {
        return showAllRuns(await next(command, args));
      }
      if (args.length > 0) {
        return next(command, args);
      }
      return executeWithoutArguments(command, next);
    },
  };
}

/** The hover's "Show all N runs" link: the whole table beside the code. */
async function showAllRuns(result: unknown): Promise<unknown> {
  const table = (result as { table?: unknown } | undefined)?.table;
  if (typeof table === 'string') {
    const document = await vscode.workspace.openTextDocument({ content: table, language: 'plaintext' });
    await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }
  return result;
}

// The server's commands are registered by the language client once the server runs. While it
// cannot run, these stand in for them and say why, instead of VS Code's "command not found".
const SERVER_COMMANDS = ['cwm.predict', 'cwm.verify', 'cwm.clear', 'cwm.showIteration', 'cwm.showAllRuns'];
let placeholders: vscode.Disposable[] = [];

function removePlaceholders(): void {
  placeholders.forEach((placeholder) => placeholder.dispose());
  placeholders = [];
}

function installPlaceholders(reason: string): void {
  removePlaceholders();
  placeholders = SERVER_COMMANDS.map((command) =>
    vscode.commands.registerCommand(command, async () => {
      const restart = 'Restart server';
      const showLog = 'Show log';
      const picked = await vscode.window.showErrorMessage(`Prophecy: the cwm-lsp server is not running: ${reason}`, restart, showLog);
      if (picked === restart) {
        await restartServer();
      } else if (picked === showLog) {
        output.show(true);
      }
    }),
  );
}

async function startServer(): Promise<void> {
  removePlaceholders();
  setPhase({ kind: 'starting' });
  const choice = await choosePythonNow();
  log(`server Python: ${describeChoice(choice)}`);
  const missing = await checkServerImport(choice);
  if (missing !== undefined) {
    installPlaceholders(`cwm_lsp is not installed in ${describeChoice(choice)}`);
    await reportMissingServer(choice, missing);
    return;
  }
  const serverOptions: ServerOptions = {
    command: choice.command,
    args: [...choice.prefixArgs, ...SERVER_MODULE_ARGS],
    // No `transport`: TransportKind.stdio would append --stdio, which `serve` does not take.
    options: { cwd: serverCwd(), env: { ...process.env, PYTHONUNBUFFERED: '1' } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: PYTHON_SELECTOR,
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // The server also reads these at initialize, so the first request already sees them.
    initializationOptions: { [SECTION]: serverSettings() },
    middleware: middleware(),
    // Hovers link to the server's "show all runs" command; no other command may run from them.
    markdown: { isTrusted: { enabledCommands: ['cwm.showAllRuns'] } },
  };
  const languageClient = new LanguageClient('cwm', 'Prophecy (cwm-lsp)', serverOptions, clientOptions);
  languageClient.onDidChangeState((event) => {
    if (event.newState === State.Running) {
      setPhase({ kind: 'ready' });
    } else if (event.newState === State.Starting) {
      setPhase({ kind: 'starting' });
    } else if (event.newState === State.Stopped) {
      setPhase(stopping ? { kind: 'stopped' } : { kind: 'error', message: 'the server stopped; see the log' });
    }
  });
  // Registered before start: the server names the model as soon as it has the settings.
  languageClient.onNotification('cwm/status', (model: ModelStatus) => {
    log(`values come from: ${model.model}`);
    statusModel.setModel(model);
    renderStatus();
  });
  client = languageClient;
  try {
    await languageClient.start();
  } catch (error) {
    log(`the server did not start: ${String(error)}`);
    setPhase({ kind: 'error', message: 'the server did not start; see the log' });
    client = undefined;
    languageClient.dispose().catch(() => undefined);
    installPlaceholders('it did not start; see the "Prophecy (cwm-lsp)" output');
    void vscode.window.showErrorMessage(`Prophecy: the cwm-lsp server did not start (${String(error)}). See the "Prophecy (cwm-lsp)" output.`);
    return;
  }
  // Replaces the client's own handler so that progress also drives the status bar.
  languageClient.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => trackProgress(languageClient, token));
  setPhase({ kind: 'ready' });
}

async function stopServer(): Promise<void> {
  const running = client;
  client = undefined;
  if (!running) {
    return;
  }
  stopping = true;
  try {
    await running.stop();
  } catch (error) {
    log(`stopping the server: ${String(error)}`);
  } finally {
    stopping = false;
  }
}

async function restartServer(): Promise<void> {
  await stopServer();
  await startServer();
}
