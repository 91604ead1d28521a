import type { Etcd3 } from 'etcd3';
import { RecordCache } from '../cache/record-cache.js';
import { MembershipError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { CONDITION_TYPES, PHASES, TERMINAL_REASONS, type ConditionType, type NodeMembershipStatus, type Phase } from '../schema/status.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeDesired, decodeStatus, type StoredRecord } from '../store/records.js';
import { printable } from '../printable.js';
import { age, formatColumns } from './view.js';

export type WaitFor =
  | { kind: 'condition'; type: ConditionType; status: 'True' | 'False' | 'Unknown' }
  | { kind: 'phase'; phase: Phase }
  | { kind: 'delete' };

/** The accepted forms of `--for`, as error messages and help name them. */
export const WAIT_FORMS = [
  `condition=<type>[=True|False|Unknown] (type: ${CONDITION_TYPES.join(', ')})`,
  `phase=<phase> (${PHASES.join(', ')})`,
  'delete',
];

function usage(given: string, why: string): MembershipError {
  return new MembershipError(
    'USAGE',
    `--for ${JSON.stringify(given)}: ${why}; accepted forms: ${WAIT_FORMS.join('; ')} (e.g. --for condition=Ready, --for phase=Removed, --for delete)`,
  );
}

/** Parses `--for`; names are matched without regard to case, as kubectl does. */
export function parseWaitFor(text: string): WaitFor {
  const s = text.trim();
  if (s.toLowerCase() === 'delete') return { kind: 'delete' };
  const eq = s.indexOf('=');
  if (eq < 0) throw usage(text, 'not a known form');
  const kind = s.slice(0, eq).toLowerCase();
  const rest = s.slice(eq + 1);
  if (kind === 'condition') {
    const [typeText = '', statusText, ...extra] = rest.split('=');
    const type = CONDITION_TYPES.find((t) => t.toLowerCase() === typeText.toLowerCase());
    if (type === undefined) throw usage(text, `unknown condition type ${JSON.stringify(typeText)}`);
    if (extra.length > 0) throw usage(text, 'too many "="');
    const status = statusText === undefined ? 'True' : (['True', 'False', 'Unknown'] as const).find((x) => x.toLowerCase() === statusText.toLowerCase());
    if (status === undefined) throw usage(text, `condition status must be True, False or Unknown, got ${JSON.stringify(statusText)}`);
    return { kind: 'condition', type, status };
  }
  if (kind === 'phase') {
    const phase = PHASES.find((p) => p.toLowerCase() === rest.toLowerCase());
    if (phase === undefined) throw usage(text, `unknown phase ${JSON.stringify(rest)}`);
    return { kind: 'phase', phase };
  }
  throw usage(text, `unknown kind ${JSON.stringify(s.slice(0, eq))}`);
}

export function describeWaitFor(f: WaitFor): string {
  switch (f.kind) {
    case 'condition':
      return `condition=${f.type}${f.status === 'True' ? '' : `=${f.status}`}`;
    case 'phase':
      return `phase=${f.phase}`;
    case 'delete':
      return 'delete';
  }
}

export interface WaitState {
  desired?: StoredRecord<NodeMembership>;
  status?: StoredRecord<NodeMembershipStatus>;
}

export interface Verdict {
  met: boolean;
  /** the wait cannot succeed for this generation: a terminal reason, phase Failed, or the record was deleted */
  rejected?: MembershipError;
  /** one line on what is seen now */
  summary: string;
}

/** Conditions in one line: `AgentReady=True ChainfireMember=False/LearnerCatchingUp`. */
export function conditionsLine(status: NodeMembershipStatus['status']): string {
  return status.conditions.map((c) => (c.status === 'True' ? `${c.type}=True` : `${c.type}=${c.status}/${c.reason}`)).join(' ');
}

/**
 * Whether `f` is met by what is seen now. A condition or phase counts only
 * once the controller has observed the desired record's current generation,
 * so a Ready from before the last apply does not end the wait.
 */
export function judge(node: string, f: WaitFor, state: WaitState): Verdict {
  const { desired } = state;
  const st = state.status?.value?.status;
  if (f.kind === 'delete') {
    if (desired === undefined) return { met: true, summary: 'deleted' };
    const phase = st !== undefined ? `phase ${st.phase}` : 'no status yet';
    return { met: false, summary: `desired record present (generation ${desired.modRevision}), ${phase}` };
  }
  if (desired === undefined) {
    return {
      met: false,
      summary: 'no desired record',
      rejected: new MembershipError('NOT_FOUND', `nodemembership ${node} was deleted while waiting for ${describeWaitFor(f)}`),
    };
  }
  if (st === undefined) {
    const why = state.status?.problem !== undefined ? `status record is invalid: ${state.status.problem}` : 'no status yet (is membership-controller running?)';
    return { met: false, summary: why };
  }
  if (st.observedGeneration < desired.modRevision) {
    return {
      met: false,
      summary: `phase ${st.phase}, waiting for the controller to observe generation ${desired.modRevision} (status is of ${st.observedGeneration}); ${conditionsLine(st)}`,
    };
  }
  const summary = `phase ${st.phase}; ${conditionsLine(st)}`.replace(/; $/, '');
  const met = f.kind === 'phase' ? st.phase === f.phase : st.conditions.some((c) => c.type === f.type && c.status === f.status);
  if (met) return { met, summary };
  const terminal = st.conditions.find((c) => (TERMINAL_REASONS as readonly string[]).includes(c.reason));
  if (terminal !== undefined || st.phase === 'Failed') {
    const c = terminal ?? st.conditions.find((x) => x.status !== 'True');
    const what = c !== undefined ? `${c.type} ${c.reason}: ${printable(c.message)}` : 'phase Failed';
    return {
      met,
      summary,
      rejected: new MembershipError(
        'REJECTED',
        `${node} cannot reach ${describeWaitFor(f)} at generation ${desired.modRevision}: ${what}; ` +
          `fix the record and apply it again (membershipctl describe ${node} shows the details)`,
      ),
    };
  }
  return { met, summary };
}

/** The conditions seen last, as an indented table, for a timeout's message. */
export function lastSeenBlock(state: WaitState, now = Date.now()): string {
  const st = state.status?.value?.status;
  if (state.desired === undefined && st === undefined) return '  no records';
  if (st === undefined) return '  no status record (is membership-controller running?)';
  const rows = [['  TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE']];
  for (const c of st.conditions) rows.push([`  ${c.type}`, c.status, c.reason, age(c.lastTransitionTime, now), c.message]);
  return `  phase ${st.phase}, observed generation ${st.observedGeneration}` +
    (state.desired !== undefined ? ` (desired generation ${state.desired.modRevision})` : '') +
    '\n' + formatColumns(rows).trimEnd();
}

/** A stream the progress goes to: stderr, or a stand-in in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/**
 * Live progress: on a terminal one line, rewritten in place with the time
 * waited so far; otherwise one plain line per change (for logs and pipes).
 */
export class ProgressLine {
  private text = '';
  private drawn = false;
  private readonly started: number;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  get live(): boolean {
    return this.stream.isTTY === true;
  }

  /** `text` may quote record data: its control characters are shown escaped. */
  update(raw: string): void {
    const text = printable(raw);
    if (text === this.text) return;
    this.text = text;
    if (this.live) this.redraw();
    else this.stream.write(`${text}\n`);
  }

  /** On a terminal, draws the line again (the elapsed time moves on). */
  redraw(): void {
    if (!this.live || this.text === '') return;
    const elapsed = Math.floor((this.now() - this.started) / 1000);
    let line = `[${elapsed}s] ${this.text}`;
    // A terminal that reports no width (0) gets 80 columns.
    const width = Math.max(this.stream.columns || 80, 20);
    if (line.length > width - 1) line = `${line.slice(0, width - 2)}…`;
    this.stream.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** Ends the live line, so that what follows starts on a line of its own. */
  done(): void {
    if (this.live && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

export interface WaitOptions {
  client: Etcd3;
  keys: KeyLayout;
  node: string;
  for: WaitFor;
  timeoutMs: number;
  /** each new summary line */
  onProgress: (summary: string) => void;
}

/**
 * Blocks on a watch of the node's desired and status records until `for` is
 * met. Throws NOT_FOUND when the node has no records at all (except for
 * `delete`, which is then met at once), REJECTED when it cannot be met for
 * this generation, and TIMEOUT with the last conditions seen.
 */
export async function waitFor(opts: WaitOptions): Promise<string> {
  const { client, keys, node } = opts;
  const log = createLogger({ level: 'warn', fd: 2, base: { service: 'membershipctl' } });
  const desired = new RecordCache<StoredRecord<NodeMembership>>({
    client, prefix: keys.desired(node), exact: true, resource: 'desired', log,
    decode: (kv) => decodeDesired(keys, kv),
  });
  const status = new RecordCache<StoredRecord<NodeMembershipStatus>>({
    client, prefix: keys.status(node), exact: true, resource: 'status', log,
    decode: (kv) => decodeStatus(keys, kv),
  });
  const state = (): WaitState => {
    const d = desired.get(keys.desired(node));
    const s = status.get(keys.status(node));
    return { ...(d ? { desired: d } : {}), ...(s ? { status: s } : {}) };
  };
  let last: Verdict | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, summary?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve(summary ?? '');
        else reject(err);
      };
      const timer = setTimeout(() => {
        const what = describeWaitFor(opts.for);
        finish(
          new MembershipError(
            'TIMEOUT',
            `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${node} ${what}; last seen:\n${lastSeenBlock(state())}\n` +
              `(membershipctl describe ${node} shows more; wait longer with --timeout)`,
          ),
        );
      }, opts.timeoutMs);
      let listed = false;
      const evaluate = () => {
        if (!listed || settled) return;
        const s = state();
        const verdict = judge(node, opts.for, s);
        if (last?.summary !== verdict.summary) opts.onProgress(verdict.summary);
        last = verdict;
        if (verdict.met) return finish(undefined, verdict.summary);
        if (verdict.rejected) return finish(verdict.rejected);
      };
      desired.on('event', evaluate);
      status.on('event', evaluate);
      Promise.all([desired.start(), status.start()]).then(
        () => {
          listed = true;
          const s = state();
          if (s.desired === undefined && s.status === undefined && opts.for.kind !== 'delete') {
            return finish(new MembershipError('NOT_FOUND', `nodemembership ${node} not found (membershipctl get lists all; apply it first)`));
          }
          evaluate();
        },
        (err: unknown) => finish(new MembershipError('UNAVAILABLE', `cannot watch ${node}'s records in Chainfire: ${errorMessage(err)}`, { cause: err })),
      );
    });
  } finally {
    await Promise.all([desired.stop(), status.stop()]);
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 120 || s % 60 !== 0) return `${s}s`;
  const m = s / 60;
  return m % 60 === 0 ? `${m / 60}h` : `${m}m`;
}
