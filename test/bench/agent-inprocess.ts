/**
 * The first-boot agent's own join logic (`joinService` from src/agent, what
 * `first-boot-agent iam-setup` and `join flaredb` run), called in this process
 * so that hundreds of joins do not pay a Node.js start each. Its log lines are
 * captured as they are written: the line that says the watch is listed and
 * waiting, and the line that says the condition turned True, are timed with
 * performance.now() at the moment the agent writes them.
 */
import { pino } from 'pino';
import { joinService, loadContext, type AgentFlags } from '../../src/agent/commands.js';
import type { Logger } from '../../src/log.js';
import type { Service } from '../../src/schema/agent-report.js';

const CONDITION: Record<Service, string> = { chainfire: 'ChainfireMember', flaredb: 'FlareDBMember', iam: 'IAMRegistered' };

export interface InProcessAgent {
  /** when the agent's watches were listed and it began to wait (performance.now()) */
  waiting: Promise<number>;
  /** when the agent saw its condition True (performance.now()) */
  sawTrue: Promise<number>;
  /** joinService's own end: marker written, lease revoked, client closed */
  done: Promise<void>;
  /** every log line, for diagnostics */
  lines: string[];
}

export interface InProcessAgentOptions {
  configPath: string;
  service: 'iam' | 'flaredb';
  endpoints: string[];
  prefix: string;
  /** where the marker is written; one per agent */
  stateDir: string;
  timeoutMs: number;
}

export function startInProcessAgent(opts: InProcessAgentOptions): InProcessAgent {
  const lines: string[] = [];
  let onWaiting!: (t: number) => void;
  let onTrue!: (t: number) => void;
  let failWaiting!: (err: unknown) => void;
  let failTrue!: (err: unknown) => void;
  const waiting = new Promise<number>((resolve, reject) => {
    onWaiting = resolve;
    failWaiting = reject;
  });
  const sawTrue = new Promise<number>((resolve, reject) => {
    onTrue = resolve;
    failTrue = reject;
  });
  const trueLine = `${CONDITION[opts.service]}=True`;
  const log = pino(
    { level: 'info', base: { service: opts.service }, messageKey: 'message' },
    {
      write(line: string) {
        const at = performance.now();
        lines.push(line);
        const message = (JSON.parse(line) as { message?: string }).message ?? '';
        if (message.startsWith('no desired record') || message.startsWith('waiting for the controller to observe')) onWaiting(at);
        else if (message.startsWith(trueLine)) onTrue(at);
      },
    },
  ) as unknown as Logger;

  const done = (async () => {
    const flags: AgentFlags = {
      config: opts.configPath,
      stateDir: opts.stateDir,
      timeout: opts.timeoutMs,
      healthTimeout: 120_000,
      startCommand: '',
      heartbeatTtl: 10,
      endpoints: opts.endpoints.join(','),
      prefix: opts.prefix,
    };
    const ctx = await loadContext(flags, log);
    await joinService(ctx, opts.service);
  })();
  done.catch((err: unknown) => {
    failWaiting(err);
    failTrue(err);
  });
  // Rejections are also reported through `done`; these two must not be unhandled on their own.
  waiting.catch(() => undefined);
  sawTrue.catch(() => undefined);
  return { waiting, sawTrue, done, lines };
}
