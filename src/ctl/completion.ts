import type { Command, Option } from 'commander';
import { CONDITION_TYPES, PHASES } from '../schema/status.js';

/**
 * Shell completion generated from the program's own commands, so that a new
 * command or flag completes without touching this file. Node names come from
 * `<program> get -o name`, with the connection flags already on the line.
 */

/** Flags whose value is a file name. */
const FILE_FLAGS = ['-f', '--filename', '--from-cluster-config', '--config', '--cacert', '--cert', '--key', '--password-file', '--out-dir', '--dir'];
/** Connection flags handed on to `get -o name` when completing node names. */
const CONNECTION_FLAGS = ['--endpoints', '--prefix', '--cacert', '--cert', '--key', '--user', '--password-file'];
/** Values `--for` completes to. */
export const WAIT_FOR_VALUES = [...CONDITION_TYPES.map((t) => `condition=${t}`), ...PHASES.map((p) => `phase=${p}`), 'delete'];
/** The marker an argument list uses for "node names, asked at completion time". */
const NODES = '__nodes__';

/** Values an option completes to when it has no fixed choices (`get -o jsonpath=...` takes any template). */
const COMPLETIONS = new WeakMap<Option, readonly string[]>();

/** Makes `option` complete to `values` (the option itself accepts more). */
export function completeWith(option: Option, values: readonly string[]): Option {
  COMPLETIONS.set(option, values);
  return option;
}

export interface CommandSpec {
  /** `get`, or `rbac apply` for a subcommand */
  path: string;
  flags: string[];
  valueFlags: string[];
  /** per flag (long and short), the values it completes to */
  flagValues: Record<string, string[]>;
  /** per positional argument: the words it completes to, or NODES */
  args: string[][];
  subcommands: string[];
}

/** Every command of the program (the root is path ""), depth first. */
export function commandSpecs(program: Command): CommandSpec[] {
  const out: CommandSpec[] = [];
  const walk = (cmd: Command, path: string) => {
    const flags: string[] = ['--help'];
    const valueFlags: string[] = [];
    const flagValues: Record<string, string[]> = {};
    for (const o of cmd.options) {
      if (o.hidden) continue;
      const names = [o.short, o.long].filter((n): n is string => n !== undefined);
      flags.push(...names);
      if (o.required || o.optional) {
        valueFlags.push(...names);
        const values = o.long === '--for' ? WAIT_FOR_VALUES : (COMPLETIONS.get(o) ?? o.argChoices);
        if (values !== undefined) for (const n of names) flagValues[n] = [...values];
      }
    }
    const args = cmd.registeredArguments.map((a) =>
      a.argChoices ? [...a.argChoices] : a.name() === 'name' ? [NODES] : a.name() === 'command' ? program.commands.map((c) => c.name()) : [],
    );
    const subcommands = cmd.commands.map((c) => c.name());
    out.push({ path, flags, valueFlags, flagValues, args, subcommands });
    for (const c of cmd.commands) walk(c, path === '' ? c.name() : `${path} ${c.name()}`);
  };
  walk(program, '');
  const root = out[0]!;
  // `help <command>` completes to the commands.
  const help = out.find((s) => s.path === 'help');
  if (help === undefined) out.push({ path: 'help', flags: [], valueFlags: [], flagValues: {}, args: [[...root.subcommands]], subcommands: [] });
  if (!root.subcommands.includes('help')) root.subcommands.push('help');
  return out;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const words = (list: string[]) => q(list.join(' '));

/** The case-based lookup functions, valid in bash and zsh alike. */
function lookupFunctions(fn: string, specs: CommandSpec[]): string {
  const caseOf = (name: string, arms: [string, string][], fallback = '') =>
    `${fn}_${name}() {\n  case "$1" in\n${arms.map(([pat, body]) => `    ${pat}) ${body} ;;`).join('\n')}\n    *) ${fallback || 'return 1'} ;;\n  esac\n}\n`;
  const subArms = specs.filter((s) => s.subcommands.length > 0).map((s): [string, string] => [q(s.path), `echo ${words(s.subcommands)}`]);
  const flagArms = specs.map((s): [string, string] => [q(s.path), `echo ${words(s.flags)}`]);
  const valueArms = specs.filter((s) => s.valueFlags.length > 0).map((s): [string, string] => [q(s.path), `echo ${words(s.valueFlags)}`]);
  const choiceArms: [string, string][] = [];
  for (const s of specs) {
    for (const [flag, values] of Object.entries(s.flagValues)) choiceArms.push([q(`${s.path}|${flag}`), `echo ${words(values)}`]);
  }
  const argArms: [string, string][] = [];
  for (const s of specs) s.args.forEach((a, i) => a.length > 0 && argArms.push([q(`${s.path}|${i}`), `echo ${words(a)}`]));
  return [
    caseOf('subcommands', subArms, 'return 0'),
    caseOf('flags', flagArms),
    caseOf('value_flags', valueArms, 'return 0'),
    caseOf('flag_values', choiceArms),
    caseOf('args', argArms, 'return 0'),
    `${fn}_takes_value() {\n  local f\n  for f in $(${fn}_value_flags "$1"); do\n    [ "$f" = "$2" ] && return 0\n  done\n  return 1\n}\n`,
    `${fn}_file_flag() {\n  case "$1" in\n    ${FILE_FLAGS.join('|')}) return 0 ;;\n  esac\n  return 1\n}\n`,
  ].join('\n');
}

/** `bash`: `source <(membershipctl completion bash)`, or save it under /etc/bash_completion.d/. */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const specs = commandSpecs(program);
  return `# bash completion for ${name}
# Load it in this shell:    source <(${name} completion bash)
# Or for every shell:       ${name} completion bash > /etc/bash_completion.d/${name}

${lookupFunctions(fn, specs)}
# Node names, from "${name} get -o name" with the connection flags already on the line.
${fn}_nodes() {
  local -a conn=()
  local i w
  for ((i = 1; i < \${#${fn}_words[@]}; i++)); do
    w="\${${fn}_words[i]}"
    case "$w" in
      ${CONNECTION_FLAGS.join('|')}) conn+=("$w" "\${${fn}_words[i+1]}") ;;
      ${CONNECTION_FLAGS.map((f) => `${f}=*`).join('|')}) conn+=("$w") ;;
    esac
  done
  "\${${fn}_words[0]}" get -o name "\${conn[@]}" 2>/dev/null | sed 's|^[^/]*/||'
}

${fn}() {
  # Split the line ourselves: bash would split "--for condition=Ready" at "=".
  local line="\${COMP_LINE:0:COMP_POINT}"
  local -a ${fn}_words
  read -ra ${fn}_words <<< "$line"
  [[ "$line" =~ [[:space:]]$ || \${#${fn}_words[@]} -eq 0 ]] && ${fn}_words+=("")
  local n=\${#${fn}_words[@]}
  local cur="\${${fn}_words[n-1]}" prev=""
  ((n >= 2)) && prev="\${${fn}_words[n-2]}"
  local cmd="" pos=0 skip=0 i w vals subs
  for ((i = 1; i < n - 1; i++)); do
    w="\${${fn}_words[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      -*=*) continue ;;
      -*) ${fn}_takes_value "$cmd" "$w" && skip=1; continue ;;
    esac
    subs=$(${fn}_subcommands "$cmd")
    if ((pos == 0)) && [[ " $subs " == *" $w "* ]]; then
      cmd="\${cmd:+$cmd }$w"
    else
      pos=$((pos + 1))
    fi
  done
  COMPREPLY=()
  if ${fn}_takes_value "$cmd" "$prev"; then
    if vals=$(${fn}_flag_values "$cmd|$prev"); then
      COMPREPLY=($(compgen -W "$vals" -- "$cur"))
    elif ${fn}_file_flag "$prev"; then
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_flags "$cmd")" -- "$cur"))
  else
    subs=$(${fn}_subcommands "$cmd")
    if [[ -n "$subs" ]] && ((pos == 0)); then
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
      vals=$(${fn}_args "$cmd|$pos")
      [[ "$vals" == "${NODES}" ]] && vals=$(${fn}_nodes)
      COMPREPLY=($(compgen -W "$vals" -- "$cur"))
    fi
  fi
  # bash replaces only the part after the last "=": hand it only that part.
  if [[ "$cur" == *=* && "$COMP_WORDBREAKS" == *=* ]]; then
    local prefix="\${cur%=*}="
    for i in "\${!COMPREPLY[@]}"; do COMPREPLY[i]="\${COMPREPLY[i]#"$prefix"}"; done
  fi
  return 0
}

complete -F ${fn} ${name}
`;
}

/** `zsh`: `source <(membershipctl completion zsh)`, or save it as `_membershipctl` in a directory of $fpath. */
export function zshCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const specs = commandSpecs(program);
  return `#compdef ${name}
# zsh completion for ${name}
# Load it in this shell:    source <(${name} completion zsh)
# Or for every shell:       ${name} completion zsh > "\${fpath[1]}/_${name}"

${lookupFunctions(fn, specs)}
${fn}_nodes() {
  local -a conn
  local i w
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    case "$w" in
      ${CONNECTION_FLAGS.join('|')}) conn+=("$w" "\${words[i+1]}") ;;
      ${CONNECTION_FLAGS.map((f) => `${f}=*`).join('|')}) conn+=("$w") ;;
    esac
  done
  "\${words[1]}" get -o name "\${conn[@]}" 2>/dev/null | sed 's|^[^/]*/||'
}

${fn}() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
  local cmd="" pos=0 skip=0 i w vals subs
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      -*=*) continue ;;
      -*) ${fn}_takes_value "$cmd" "$w" && skip=1; continue ;;
    esac
    subs=$(${fn}_subcommands "$cmd")
    if ((pos == 0)) && [[ " $subs " == *" $w "* ]]; then
      cmd="\${cmd:+$cmd }$w"
    else
      pos=$((pos + 1))
    fi
  done
  if ${fn}_takes_value "$cmd" "$prev"; then
    if vals=$(${fn}_flag_values "$cmd|$prev"); then
      compadd -- \${=vals}
    elif ${fn}_file_flag "$prev"; then
      _files
    fi
  elif [[ "$cur" == -* ]]; then
    compadd -- \${=$(${fn}_flags "$cmd")}
  else
    subs=$(${fn}_subcommands "$cmd")
    if [[ -n "$subs" ]] && ((pos == 0)); then
      compadd -- \${=subs}
    else
      vals=$(${fn}_args "$cmd|$pos")
      [[ "$vals" == "${NODES}" ]] && vals=$(${fn}_nodes)
      compadd -- \${=vals}
    fi
  fi
}

if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  return shell === 'bash' ? bashCompletion(program) : zshCompletion(program);
}
