// The words main() answers itself, beside the declared commands: they take no common flags.

/** Shells `limbo completion` writes a script for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A word main() handles before any command is looked up. */
export interface Builtin {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
}

export const BUILTINS: readonly Builtin[] = [
  { name: 'help', usage: 'limbo help [COMMAND]', summary: "Show the commands, or one command's options." },
  {
    name: 'completion',
    usage: `limbo completion ${SHELLS.join('|')}`,
    summary: 'Print the completion script for a shell.',
  },
];
