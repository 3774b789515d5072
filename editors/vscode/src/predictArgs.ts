// Arguments for the server's commands when the user runs them from the command palette (no
// arguments) rather than from a code action (arguments given by the server).

export const PREDICT_TITLE_PREFIX = 'Prophecy: predict';
export const VERIFY_TITLE_PREFIX = 'Prophecy: verify';

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

/** The server's "predict with invented inputs" action carries `true` as its fourth argument. */
export function inventsInputs(choice: CommandLike): boolean {
  return choice.arguments?.[3] === true;
}

/** What "Prophecy: Predict" offers: the example calls; invented inputs only when there is none. */
export function predictionChoices(actions: readonly CodeActionLike[]): CommandLike[] {
  const all = predictChoices(actions);
  const examples = all.filter((choice) => !inventsInputs(choice));
  return examples.length > 0 ? examples : all;
}

export const ADD_EXAMPLE_TITLE = 'Prophecy: add an example call';
export const ADD_EXAMPLE_CHOICE = 'Add an example call';
export const INVENT_CHOICE = 'Invent inputs';

/**
 * A function without an example call is not predicted on invented inputs without asking: the
 * answers to offer ("Add an example call" when the server offers that edit, "Invent inputs"
 * when it offers invented inputs), or undefined when the function has example calls.
 */
export function inputQuestion(actions: readonly CodeActionLike[]): string[] | undefined {
  const choices = predictionChoices(actions);
  if (choices.some((choice) => !inventsInputs(choice))) {
    return undefined;
  }
  const answers: string[] = [];
  if (actions.some((action) => action.title === ADD_EXAMPLE_TITLE)) {
    answers.push(ADD_EXAMPLE_CHOICE);
  }
  if (choices.length > 0) {
    answers.push(INVENT_CHOICE);
  }
  return answers;
}

/** The server's "Prophecy: verify …" action, whose arguments name the call last predicted. */
export function verifyChoice(actions: readonly CodeActionLike[]): CommandLike | undefined {
  for (const action of actions) {
    if (action.title.startsWith(VERIFY_TITLE_PREFIX) && typeof action.command === 'object' && action.command.command === 'cwm.verify') {
      return { title: action.title, command: action.command.command, arguments: action.command.arguments };
    }
  }
  return undefined;
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
export function argumentsFor(command: string, given: readonly unknown[], cursor: Cursor | undefined, iteration?: number | null): unknown[] | undefined {
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
      return [cursor.uri, cursor.line, iteration ?? null];
    default:
      return [cursor.uri, cursor.line];
  }
}

/**
 * Parses the iteration number typed by the user (1-based in the UI, 0-based for the server);
 * an empty answer or "all" gives null (show all iterations again).
 */
export function parseIteration(text: string): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'all') {
    return null;
  }
  if (!/^\d+$/.test(trimmed)) {
    return undefined;
  }
  const n = Number(trimmed);
  return n >= 1 ? n - 1 : undefined;
}
