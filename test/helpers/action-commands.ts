// reclaim, recover and close as a person runs them: in a child process through bin/limbo.js, or
// in-process through main() with an injected confirm that plays the person at the terminal.
import { main } from '../../src/cli/main.js';
import type { Confirm } from '../../src/cli/confirm.js';
import { runLimbo } from './limbo.js';

export interface ActionRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The questions the command asked. */
  readonly asked: readonly string[];
}

/**
 * Runs a command in-process. `answer` plays the person at the terminal (omitted: there is no
 * terminal); it may change the system before answering, to race the act against the preview.
 */
export async function runActionInProcess(
  argv: readonly string[],
  answer?: (question: string) => boolean,
): Promise<ActionRun> {
  let stdout = '';
  let stderr = '';
  const asked: string[] = [];
  const confirm: Confirm = {
    available: answer !== undefined,
    ask(question) {
      asked.push(question);
      return answer ? answer(question) : false;
    },
  };
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text), isTTY: answer !== undefined },
    stderr: { write: (text: string) => (stderr += text) },
    env: { ...process.env, NO_COLOR: '1' },
    confirm,
  });
  return { code, stdout, stderr, asked };
}

/** Runs a command in a child process (no terminal), as a user would; `env` adds variables. */
export function runAction(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ActionRun {
  return { ...runLimbo(argv, { env }), asked: [] };
}
