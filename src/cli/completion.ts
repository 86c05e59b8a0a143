// Shell completion scripts, written from the same declarations as --help: every command, its
// flags, an enum's choices, and file names where a flag takes FILE, DIR or PATH.
import { BUILTINS, SHELLS, type Shell } from './builtins.js';
import { COMMANDS } from './commands.js';
import { COMMON_OPTIONS, flagName, type CommandSpec, type Option } from './options.js';

/** What completes after a flag: nothing (a boolean), its choices, files, directories, or free text. */
type Takes = 'none' | 'choices' | 'file' | 'dir' | 'text';

interface Flag {
  readonly name: string;
  readonly help: string;
  readonly takes: Takes;
  readonly choices: readonly string[];
}

interface Completable {
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly Flag[];
  /** Takes arguments that are not flags (paths, PID:FD): complete file names there. */
  readonly positionals: boolean;
}

function takes(option: Option<unknown>): Takes {
  if (option.kind === 'boolean') return 'none';
  if (option.choices) return 'choices';
  if (option.value === 'DIR') return 'dir';
  if (option.value === 'FILE' || option.value === 'PATH') return 'file';
  return 'text';
}

function completable(spec: CommandSpec): Completable {
  const flags = Object.entries({ ...spec.options, ...COMMON_OPTIONS }).map(([key, option]) => ({
    name: `--${flagName(key)}`,
    help: option.help,
    takes: takes(option),
    choices: option.choices ?? [],
  }));
  return { name: spec.name, summary: spec.summary, flags, positionals: spec.positionals === true };
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell): string {
  const commands = COMMANDS.map((command) => completable(command.spec));
  if (shell === 'bash') return bashScript(commands);
  if (shell === 'zsh') return zshScript(commands);
  return fishScript(commands);
}

/** The command bare `limbo -…` runs, whose flags complete at the first word. */
const DEFAULT = 'report';

function bashScript(commands: readonly Completable[]): string {
  const names = [...commands.map((c) => c.name), ...BUILTINS.map((b) => b.name)].join(' ');
  const valueCases = commands.flatMap((c) =>
    c.flags
      .filter((f) => f.takes !== 'none')
      .map((f) => {
        const reply =
          f.takes === 'choices'
            ? `_limbo_reply -W '${f.choices.join(' ')}'`
            : f.takes === 'file'
              ? '_limbo_reply -f'
              : f.takes === 'dir'
                ? '_limbo_reply -d'
                : ':';
        return `    '${c.name} ${f.name}') ${reply}; return ;;`;
      }),
  );
  const flagCases = commands.map(
    (c) =>
      `    ${c.name}) flags='${c.flags.map((f) => f.name).join(' ')}'${c.positionals ? '; positionals=1' : ''} ;;`,
  );
  return `# bash completion for limbo, written by \`limbo completion bash\`.
# Load it with: source <(limbo completion bash)
_limbo_reply() {
  local action=$1
  shift
  [[ $action == -f || $action == -d ]] && compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen "$action" "$@" -- "$cur")
}

_limbo() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  # --flag=value: bash splits at '=', so the flag is one word further back.
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]]; then
    prev=\${COMP_WORDS[COMP_CWORD-2]}
  fi
  COMPREPLY=()
  if ((COMP_CWORD == 1)) && [[ $cur != -* ]]; then
    _limbo_reply -W '${names}'
    return
  fi
  local cmd=\${COMP_WORDS[1]}
  [[ $cmd == -* ]] && cmd=${DEFAULT}
  case $cmd in
    help) ((COMP_CWORD == 2)) && _limbo_reply -W '${commands.map((c) => c.name).join(' ')}'; return ;;
    completion) ((COMP_CWORD == 2)) && _limbo_reply -W '${SHELLS.join(' ')}'; return ;;
  esac
  case "$cmd $prev" in
${valueCases.join('\n')}
  esac
  local flags= positionals=
  case $cmd in
${flagCases.join('\n')}
    *) return ;;
  esac
  ((COMP_CWORD == 1)) && flags+=' --version'
  if [[ $cur == -* || -z $positionals ]]; then
    _limbo_reply -W "$flags"
  else
    _limbo_reply -f
  fi
}
complete -F _limbo limbo
`;
}

/** Text inside single quotes, for zsh and bash: a quote ends it, so it is closed and escaped. */
function shellQuoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** An _arguments or _describe description: brackets and colons are its syntax. */
function zshEscaped(text: string): string {
  return text.replace(/([\\[\]:])/g, '\\$1');
}

function zshSpec(f: Flag): string {
  const help = zshEscaped(f.help);
  if (f.takes === 'none') return shellQuoted(`${f.name}[${help}]`);
  const value = f.name.slice(2).toUpperCase();
  const action =
    f.takes === 'choices'
      ? `(${f.choices.join(' ')})`
      : f.takes === 'file'
        ? '_files'
        : f.takes === 'dir'
          ? '_files -/'
          : ' ';
  return shellQuoted(`${f.name}=[${help}]:${value}:${action}`);
}

function zshScript(commands: readonly Completable[]): string {
  const described = (list: readonly { name: string; summary: string }[]) =>
    list.map((c) => `    ${shellQuoted(`${c.name}:${zshEscaped(c.summary)}`)}`).join('\n');
  const cases = commands.map((c) => {
    const specs = [...c.flags.map(zshSpec), ...(c.positionals ? [`'*:file:_files'`] : [])];
    return `    ${c.name})\n      _arguments -S \\\n        ${specs.join(' \\\n        ')}\n      ;;`;
  });
  return `#compdef limbo
# zsh completion for limbo, written by \`limbo completion zsh\`.
# Load it with: source <(limbo completion zsh), or save it as _limbo in a directory of $fpath.
_limbo() {
  local -a commands builtins
  commands=(
${described(commands)}
  )
  builtins=(
${described(BUILTINS)}
  )
  if (( CURRENT == 2 )) && [[ $PREFIX != -* ]]; then
    _describe -t commands 'limbo command' commands -- builtins
    return
  fi
  local cmd=$words[2]
  if [[ $cmd == -* ]]; then
    cmd=${DEFAULT}
  else
    shift words
    (( CURRENT-- ))
  fi
  case $cmd in
    help) (( CURRENT == 2 )) && _describe -t commands 'limbo command' commands ;;
    completion) (( CURRENT == 2 )) && compadd ${SHELLS.join(' ')} ;;
${cases.join('\n')}
  esac
}
if [[ $funcstack[1] == _limbo ]]; then
  _limbo "$@"
else
  compdef _limbo limbo
fi
`;
}

/** Text inside fish single quotes: only a backslash and a quote are special there. */
function fishQuoted(text: string): string {
  return `'${text.replace(/[\\']/g, '\\$&')}'`;
}

function fishScript(commands: readonly Completable[]): string {
  const top = '__fish_use_subcommand';
  const lines = [
    '# fish completion for limbo, written by `limbo completion fish`.',
    '# Load it with: limbo completion fish | source, or save it as ~/.config/fish/completions/limbo.fish',
    'complete -c limbo -f',
    `complete -c limbo -n ${top} -l version -d 'print the version'`,
  ];
  for (const c of [...commands, ...BUILTINS]) {
    lines.push(`complete -c limbo -n ${top} -a ${c.name} -d ${fishQuoted(c.summary)}`);
  }
  const names = commands.map((c) => c.name).join(' ');
  lines.push(`complete -c limbo -n '__fish_seen_subcommand_from help' -a ${fishQuoted(names)}`);
  lines.push(`complete -c limbo -n '__fish_seen_subcommand_from completion' -a '${SHELLS.join(' ')}'`);
  for (const c of commands) {
    const seen = `'__fish_seen_subcommand_from ${c.name}'`;
    // Bare `limbo --flag` runs the report: its flags complete before any command too.
    const conditions = c.name === DEFAULT ? [seen, top] : [seen];
    for (const condition of conditions) {
      for (const f of c.flags) {
        const value =
          f.takes === 'none'
            ? ''
            : f.takes === 'choices'
              ? ` -x -a ${fishQuoted(f.choices.join(' '))}`
              : f.takes === 'text'
                ? ' -x'
                : ' -r -F';
        lines.push(
          `complete -c limbo -n ${condition} -l ${f.name.slice(2)}${value} -d ${fishQuoted(f.help)}`,
        );
      }
    }
    if (c.positionals) lines.push(`complete -c limbo -n ${seen} -F`);
  }
  return `${lines.join('\n')}\n`;
}
