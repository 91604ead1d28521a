import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { printable } from './printable.js';

export type { Logger };

/**
 * Paths that may carry secrets. Set once on the root logger: a child given its
 * own `redact` would replace this list, so children never pass one.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'privateKey',
  '*.privateKey',
  'auth.password',
  'credentials.privateKey',
];

const LEVEL_NAMES: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
};

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Bound fields on every line, e.g. `{ component: 'controller' }`. */
  base?: Record<string, unknown>;
  /** Write to this fd instead of stdout (1); the agent logs to stdout, the CLIs to stderr. */
  fd?: 1 | 2;
  /** Write the lines here instead of to `fd` (a test reads them). */
  destination?: DestinationStream;
  /** `json` (one object per line, the default) or `pretty` (one readable line per entry); default: `setLogFormat`'s */
  format?: LogFormat;
}

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

let defaultFormat: LogFormat = 'json';

/**
 * The format of loggers created without an explicit `format`: the programs set
 * it once from `--log-format`, so that every logger of the process follows.
 */
export function setLogFormat(format: LogFormat): void {
  defaultFormat = format;
}

/** `--log-format` as given in argv (`--log-format pretty` or `--log-format=pretty`), for loggers made before parsing. */
export function logFormatFromArgv(argv: string[]): LogFormat {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a === '--log-format' ? argv[i + 1] : a.startsWith('--log-format=') ? a.slice('--log-format='.length) : undefined;
    if (value === 'pretty' || value === 'json') return value;
  }
  return 'json';
}

/**
 * Keys the logger writes on every line itself. A field of one of these names
 * given at a call site or in a child's bindings is written under the key given
 * here instead, so that no line carries a key twice (log search keeps only the
 * last, and the program's name would be lost). `service` is the program (for
 * the agent: the service its unit joins), bound once in createLogger's `base`;
 * a `service` anywhere else names the service whose membership the line is
 * about (`log.info({ node, service: 'flaredb' }, ...)`), as `memberService`.
 */
export const RENAMED_FIELDS: Readonly<Record<string, string>> = {
  service: 'memberService',
  level: 'levelField',
  timestamp: 'timestampField',
  message: 'messageField',
};

/**
 * One JSON object per line, shaped as the seed's first-boot logs:
 * `timestamp` (ISO-8601 with offset), `level` (DEBUG/INFO/WARN/ERROR),
 * `service` and `operation` (from `base` or a child's bindings), `message`,
 * then the fields. No key appears twice on a line: a field named as one in
 * RENAMED_FIELDS is renamed, and any other field given again (a child binding
 * what its parent bound, a call site what the logger bound) replaces the
 * earlier value.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 1;
  const format = options.format ?? defaultFormat;
  const out = options.destination ?? pino.destination({ fd, sync: true });
  const color = options.destination === undefined && process.env.NO_COLOR === undefined && isatty(fd);
  const destination = format === 'pretty' ? prettyDestination(out, color) : out;
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      messageKey: 'message',
      timestamp: () => `,"timestamp":"${isoWithOffset(new Date())}"`,
      formatters: {
        level: (label) => ({ level: LEVEL_NAMES[label] ?? label.toUpperCase() }),
      },
      hooks: { logMethod: logWithoutClashes },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
  // Children are made with Object.create(parent), so every descendant uses this child().
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, childOptions?: object) {
    const renamed = renameReserved(bindings, true);
    const child = pinoChild.call(this, renamed, childOptions);
    // Bound again: the child's value replaces its parent's (parsing keeps the last).
    if (Object.keys(renamed).some((k) => boundKeys(this).has(k))) setBoundJson(child, Object.entries(parseBound(boundJson(child))));
    return child;
  } as Logger['child'];
  return logger;
}

// ---------------------------------------------------------------------------
// One key per field

const CHINDINGS = pino.symbols.chindingsSym;

/** The fields a logger has bound (base and child bindings), as pino keeps them: `,"k":v,...`. */
function boundJson(logger: object): string {
  return ((logger as Record<symbol, unknown>)[CHINDINGS] as string | undefined) ?? '';
}

function setBoundJson(logger: object, entries: [string, unknown][]): void {
  (logger as Record<symbol, unknown>)[CHINDINGS] = entries.map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('');
}

function parseBound(json: string): Record<string, unknown> {
  return json === '' ? {} : (JSON.parse(`{${json.slice(1)}}`) as Record<string, unknown>);
}

const boundKeysCache = new WeakMap<object, { json: string; keys: Set<string> }>();

function boundKeys(logger: object): Set<string> {
  const json = boundJson(logger);
  const cached = boundKeysCache.get(logger);
  if (cached?.json === json) return cached.keys;
  const keys = new Set(Object.keys(parseBound(json)));
  boundKeysCache.set(logger, { json, keys });
  return keys;
}

/**
 * The fields with each key of RENAMED_FIELDS under its new name, in the same
 * order. `message` is the logger's only when a message is given besides the
 * fields (pino takes a lone `{ message }` as the message).
 */
function renameReserved<T extends Record<string, unknown>>(fields: T, withMessage: boolean): T {
  const clash = (k: string) => k in RENAMED_FIELDS && (k !== 'message' || withMessage);
  if (!Object.keys(fields).some(clash)) return fields;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [clash(k) ? RENAMED_FIELDS[k]! : k, v])) as T;
}

function isFields(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error);
}

/**
 * pino's logMethod hook: renames the reserved fields of a call and, when the
 * call gives a field the logger has bound, writes the line from a stand-in
 * logger without that bound field, so that the call's value is the only one.
 */
function logWithoutClashes(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const [first, ...rest] = args;
  if (!isFields(first)) {
    method.apply(this, args);
    return;
  }
  const fields = renameReserved(first, rest.length > 0);
  const bound = boundKeys(this);
  const given = Object.keys(fields).filter((k) => bound.has(k));
  let target: object = this;
  if (given.length > 0) {
    target = Object.create(this) as object;
    setBoundJson(target, Object.entries(parseBound(boundJson(this))).filter(([k]) => !given.includes(k)));
  }
  method.apply(target, [fields, ...rest]);
}

/**
 * Writes each JSON line pino produces as one readable line, through the same
 * synchronous destination as JSON (which retries a full pipe rather than failing).
 */
function prettyDestination(out: DestinationStream, color: boolean): DestinationStream {
  return {
    write(line: string) {
      for (const one of line.split('\n')) {
        if (one.trim() !== '') out.write(formatPrettyLine(one, { color }) + '\n');
      }
    },
  };
}

const LEVEL_COLORS: Record<string, string> = { DEBUG: '\x1b[90m', INFO: '\x1b[32m', WARN: '\x1b[33m', ERROR: '\x1b[31m' };
/** Fields shown before the message rather than as key=value. */
const HEAD_FIELDS = ['timestamp', 'level', 'message', 'service', 'operation', 'component'] as const;

/**
 * One JSON log line as a human-readable line:
 * `2026-11-24 10:30:45.123 INFO  membership-controller/reconcile: became leader identity=c1 term=57`.
 * A line that is not a JSON object is returned unchanged. An error's stack
 * follows on indented lines.
 */
export function formatPrettyLine(line: string, options: { color?: boolean } = {}): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  // Fields carry record data (a node name, a condition's message): their control characters are shown escaped.
  const ts = typeof entry.timestamp === 'string' ? printable(entry.timestamp.replace('T', ' ').replace(/([+-]\d\d:\d\d|Z)$/, '')) : '';
  const level = printable(typeof entry.level === 'string' ? entry.level : String(entry.level ?? ''));
  const levelText = level.padEnd(5);
  const where = printable([entry.service, entry.component, entry.operation].filter((x): x is string => typeof x === 'string' && x !== '').join('/'));
  const fields: string[] = [];
  const trailer: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if ((HEAD_FIELDS as readonly string[]).includes(k) || v === undefined) continue;
    if (k === 'err' && v !== null && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${fieldValue(e.message ?? v)}`);
      if (typeof e.stack === 'string') trailer.push(...e.stack.split('\n').slice(1).map((s) => `    ${printable(s.trim())}`));
      continue;
    }
    fields.push(`${printable(k)}=${fieldValue(v)}`);
  }
  const paint = (code: string | undefined, text: string) => (options.color && code ? `${code}${text}\x1b[0m` : text);
  const head = [ts, paint(LEVEL_COLORS[level], levelText), where ? `${where}:` : ''].filter(Boolean).join(' ');
  const message = typeof entry.message === 'string' ? printable(entry.message) : '';
  const body = [message, ...fields.map((f) => paint('\x1b[2m', f))].filter(Boolean).join(' ');
  return [`${head} ${body}`.trimEnd(), ...trailer].join('\n');
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return printable(/^[^\s"=]+$/.test(v) ? v : JSON.stringify(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return printable(JSON.stringify(v) ?? String(v));
}

/** `2026-11-24T10:30:45.123+00:00`: ISO-8601 with an explicit offset, as the seed's `date -Iseconds`. */
export function isoWithOffset(d: Date): string {
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const local = new Date(d.getTime() + offsetMin * 60_000);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `.${pad(local.getUTCMilliseconds(), 3)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
