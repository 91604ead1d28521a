import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

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
 * One JSON object per line, shaped as the seed's first-boot logs:
 * `timestamp` (ISO-8601 with offset), `level` (DEBUG/INFO/WARN/ERROR), `message`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 1;
  const format = options.format ?? defaultFormat;
  const destination: DestinationStream =
    format === 'pretty' ? prettyDestination(fd, process.env.NO_COLOR === undefined && isatty(fd)) : pino.destination({ fd, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      messageKey: 'message',
      timestamp: () => `,"timestamp":"${isoWithOffset(new Date())}"`,
      formatters: {
        level: (label) => ({ level: LEVEL_NAMES[label] ?? label.toUpperCase() }),
      },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * Writes each JSON line pino produces as one readable line, through the same
 * synchronous destination as JSON (which retries a full pipe rather than failing).
 */
function prettyDestination(fd: number, color: boolean): DestinationStream {
  const out = pino.destination({ fd, sync: true });
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
  const ts = typeof entry.timestamp === 'string' ? entry.timestamp.replace('T', ' ').replace(/([+-]\d\d:\d\d|Z)$/, '') : '';
  const level = typeof entry.level === 'string' ? entry.level : String(entry.level ?? '');
  const levelText = level.padEnd(5);
  const where = [entry.service, entry.component, entry.operation].filter((x): x is string => typeof x === 'string' && x !== '').join('/');
  const fields: string[] = [];
  const trailer: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if ((HEAD_FIELDS as readonly string[]).includes(k) || v === undefined) continue;
    if (k === 'err' && v !== null && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${fieldValue(e.message ?? v)}`);
      if (typeof e.stack === 'string') trailer.push(...e.stack.split('\n').slice(1).map((s) => `    ${s.trim()}`));
      continue;
    }
    fields.push(`${k}=${fieldValue(v)}`);
  }
  const paint = (code: string | undefined, text: string) => (options.color && code ? `${code}${text}\x1b[0m` : text);
  const head = [ts, paint(LEVEL_COLORS[level], levelText), where ? `${where}:` : ''].filter(Boolean).join(' ');
  const body = [typeof entry.message === 'string' ? entry.message : '', ...fields.map((f) => paint('\x1b[2m', f))].filter(Boolean).join(' ');
  return [`${head} ${body}`.trimEnd(), ...trailer].join('\n');
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
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
