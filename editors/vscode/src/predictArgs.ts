// Arguments for the server's commands when the user runs them from the command palette (no
// arguments) rather than from a code action (arguments given by the server).

export const PREDICT_TITLE_PREFIX = 'Prophecy: predict';

export interface Cursor {
  readonly uri: string;
  /** zero-based, as in LSP */
  readonly line: number;
}

export interface CommandLike {
  readonly title: string;
  readonly command: string;
  readonly arguments?: unknown[];
}

export interface CodeActionLike {
  readonly title: string;
  readonly command?: CommandLike | string;
  readonly arguments?: unknown[];
}

/** The server's "Prophecy: predict NAME(ARGS)" actions, as commands to run. */
export function predictChoices(actions: readonly CodeActionLike[]): CommandLike[] {
  const out: CommandLike[] = [];
  for (const action of actions) {
    if (!action.title.startsWith(PREDICT_TITLE_PREFIX)) {
      continue;
    }
    if (typeof action.command === 'string') {
      out.push({ title: action.title, command: action.command, arguments: action.arguments });
    } else if (action.command && action.command.command === 'cwm.predict') {
      out.push({ title: action.title, command: action.command.command, arguments: action.command.arguments });
    }
  }
  return out;
}

/** The label shown in a quick pick: "predict add(2, 3)" without the common prefix. */
export function choiceLabel(choice: CommandLike): string {
  return choice.title.replace(/^Prophecy:\s*/, '');
}

/**
 * Fills in the arguments of a server command invoked without any:
 * cwm.predict / cwm.verify: [uri, line]; cwm.clear: [uri]; cwm.showIteration: [uri, line, iteration].
 * Arguments that are already there are kept as they are.
 */
export function argumentsFor(command: string, given: readonly unknown[], cursor: Cursor | undefined, iteration?: number): unknown[] | undefined {
  if (given.length > 0) {
    return [...given];
  }
  if (!cursor) {
    return undefined;
  }
  switch (command) {
    case 'cwm.clear':
      return [cursor.uri];
    case 'cwm.showIteration':
      return iteration === undefined ? [cursor.uri, cursor.line] : [cursor.uri, cursor.line, iteration];
    default:
      return [cursor.uri, cursor.line];
  }
}

/** Parses the iteration number typed by the user (1-based in the UI, 0-based for the server). */
export function parseIteration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) {
    return undefined;
  }
  const n = Number(trimmed);
  return n >= 1 ? n - 1 : undefined;
}
