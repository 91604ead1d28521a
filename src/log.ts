import { pino, type Logger, type LevelWithSilent } from 'pino';

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
}

/**
 * One JSON object per line, shaped as the seed's first-boot logs:
 * `timestamp` (ISO-8601 with offset), `level` (DEBUG/INFO/WARN/ERROR), `message`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
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
    pino.destination({ fd: options.fd ?? 1, sync: true }),
  );
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
