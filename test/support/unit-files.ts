// Unit files as systemd reads them: sections and keys, environment files,
// and ExecStart split and expanded.
import assert from 'node:assert/strict';

export type Section = Map<string, string[]>;
export type Unit = Map<string, Section>;

/** systemd's ini dialect: sections, `Key=value`, repeated keys accumulate, `#`/`;` comments. */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Section | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `not a Key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** A space-separated list setting, all lines of it. */
export function words(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section)?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

/** `KEY=value` lines of an environment file (comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/**
 * ExecStart as systemd splits it: words, "double-quoted" words with
 * backslash escapes, `$$` and `%%` for literal `$` and `%`, `%d` and the
 * other specifiers of `specifiers` (e.g. `{ d: credentialsDir }`); `${VAR}`
 * expands inside a word, a lone `$VAR` word expands to its value split on
 * spaces (nothing when unset).
 */
export function execArgv(execStart: string, env: Record<string, string>, specifiers: Record<string, string> = {}): string[] {
  const out: string[] = [];
  const tokens = execStart.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  for (const token of tokens) {
    const quoted = token.startsWith('"');
    let word = quoted ? (JSON.parse(token) as string) : token;
    const lone = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (lone && !quoted) {
      out.push(...(env[lone[1]!] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    // Specifiers first (systemd expands them when it loads the unit), then variables and `$$`.
    word = word.replace(/%(.)/g, (m, c: string) => (c === '%' ? '%' : (specifiers[c] ?? m)));
    word = word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
    out.push(word.replaceAll('$$', '$'));
  }
  return out;
}
