/**
 * A snapshot of Chainfire before each of its membership changes, streamed
 * through etcd's Maintenance API into the controller's snapshot directory.
 * One per change record (operations/chainfire) and kind of change: the first
 * promote of a join takes one, the promotes retried while the learner
 * catches up do not. A change that was not made (etcd refused it for now, and
 * it is recorded afresh for its next attempt) is still covered by the snapshot
 * taken before it, until some change is made. A snapshot that cannot be
 * written holds the change back (SNAPSHOT_FAILED), or with
 * `onFailure: "warn"` is logged and the change goes on.
 */
import type { Etcd3 } from 'etcd3';
import type { Counter, Gauge } from 'prom-client';
import { MembershipError, errorMessage, isMembershipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MembershipOperation } from '../schema/operation.js';
import { SnapshotDirectory, SnapshotTooLarge, writeProblem, type SnapshotFile } from './directory.js';
import { snapshotFileName, type SnapshotChange } from './naming.js';
import { formatBytes, roomFor } from './retention.js';
import type { SnapshotSettings } from './settings.js';

/** etcd appends a SHA-256 of the database to the stream, after the database itself. */
const HASH_BYTES = 32;

/** How many change records are remembered as snapshotted (changes are one at a time: a few would do). */
const REMEMBERED = 64;

/** How long a snapshot before a change that was not made serves that change's next attempts. */
const PENDING_MS = 10 * 60_000;

export interface ChainfireChange {
  node: string;
  kind: SnapshotChange;
  /** the change record the action belongs to; without one, every call takes a snapshot */
  operation?: MembershipOperation | undefined;
}

export interface SnapshotMetrics {
  /** membership_snapshots_total{result} */
  total: Counter<'result'>;
  /** membership_last_snapshot_timestamp_seconds */
  lastTimestamp: Gauge;
}

export interface ChainfireSnapshotsOptions {
  /**
   * The client the snapshots are streamed with: a client of their own, since
   * etcd3 takes a stream cut short (a refused or failed write) for a failed
   * host and resets that host's connections, watches included.
   */
  client: () => Etcd3;
  settings: SnapshotSettings;
  log: Logger;
  metrics?: SnapshotMetrics;
  now?: () => Date;
  /** whether a process runs (a temporary file of a live writer is not deleted) */
  isAlive?: (pid: number) => boolean;
}

/** Raised inside a take, with the cause in words; becomes the SNAPSHOT_FAILED message. */
class Refused extends Error {}

export class ChainfireSnapshots {
  readonly directory: SnapshotDirectory;
  private readonly opts: ChainfireSnapshotsOptions;
  private readonly taken = new Set<string>();
  /** the last snapshot, while no change has been made since: it shows the state before the same change's next attempt too */
  private pending: { node: string; kind: SnapshotChange; at: number } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ChainfireSnapshotsOptions) {
    this.opts = opts;
    this.directory = new SnapshotDirectory(opts.settings.dir);
  }

  /** Sets the last-snapshot gauge from what the directory holds (a controller restarted keeps its figure). */
  async init(): Promise<void> {
    try {
      const newest = (await this.directory.list())[0];
      if (newest !== undefined) this.opts.metrics?.lastTimestamp.set(newest.at.getTime() / 1000);
    } catch (err) {
      this.opts.log.debug({ dir: this.directory.dir, err: errorMessage(err) }, 'no snapshots listed yet');
    }
  }

  /**
   * Before `change`: a snapshot, unless its change record already has one of
   * this kind, or it is the same node's same change tried again with no change
   * made since its snapshot. Throws MembershipError SNAPSHOT_FAILED when none
   * could be written and onFailure is refuse; nothing is left half-written either way.
   */
  async beforeChange(change: ChainfireChange): Promise<SnapshotFile | undefined> {
    const op = change.operation;
    const key = op && `${op.service}/${op.node}/${op.change}/${op.startedAt}/${change.kind}`;
    if (key !== undefined && this.taken.has(key)) return undefined;
    const now = (this.opts.now?.() ?? new Date()).getTime();
    const p = this.pending;
    if (p !== undefined && p.node === change.node && p.kind === change.kind && now - p.at < PENDING_MS) {
      this.remember(key);
      return undefined;
    }
    const { log, settings, metrics } = this.opts;
    const fields = { node: change.node, service: 'chainfire', change: change.kind, dir: settings.dir };
    try {
      const file = await this.take(change.node, change.kind);
      metrics?.total.inc({ result: 'success' });
      metrics?.lastTimestamp.set(file.at.getTime() / 1000);
      this.remember(key);
      this.pending = { node: change.node, kind: change.kind, at: now };
      return file;
    } catch (err) {
      metrics?.total.inc({ result: 'failure' });
      const message = `no snapshot of Chainfire before ${change.kind} of ${change.node} could be written to ${settings.dir}: ${causeOf(err)}`;
      if (settings.onFailure === 'warn') {
        log.warn(fields, `${message}; going on without one (snapshots.onFailure is "warn")`);
        this.remember(key);
        return undefined;
      }
      log.error(fields, `${message}; the change waits for one`);
      throw new MembershipError('SNAPSHOT_FAILED', message, { cause: err });
    }
  }

  /** A membership change of Chainfire was made: the next change needs a snapshot of its own. */
  changeMade(): void {
    this.pending = undefined;
  }

  /** One snapshot now, named after `node` and `kind`; older ones beyond the limits are deleted once it is written. */
  take(node: string, kind: SnapshotChange): Promise<SnapshotFile> {
    const run = this.queue.then(() => this.write(node, kind));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(node: string, kind: SnapshotChange): Promise<SnapshotFile> {
    const { settings, log } = this.opts;
    const client = this.opts.client();
    const at = this.opts.now?.() ?? new Date();
    const started = performance.now();
    const directory = this.directory;
    await directory.ensure();
    await directory.removeStaleTemporaries(this.opts.isAlive ?? processAlive);
    const status = await client.maintenance.status().catch((err: unknown) => {
      throw new Refused(`Chainfire did not answer its status call: ${errorMessage(err)}`);
    });
    const expected = Number(status.dbSize) + HASH_BYTES;
    const refusal = roomFor(expected, await directory.freeBytes(), settings);
    if (refusal !== undefined) throw new Refused(refusal.message);
    let revision = Number(status.header.revision);
    const stream = await client.maintenance.snapshot({ deadline: Date.now() + settings.timeoutMs });
    let ended = false;
    try {
      const blobs = async function* (): AsyncGenerator<Uint8Array> {
        for await (const message of stream as unknown as AsyncIterable<{ header?: { revision?: string } | null; blob: Buffer }>) {
          // etcd 3.5 and later say in the first header which revision the snapshot holds; 3.4 says nothing.
          const said = Number(message.header?.revision ?? 0);
          if (said > 0) revision = said;
          yield message.blob;
        }
        ended = true;
      };
      const file = await directory.write(blobs(), () => snapshotFileName({ at, node, change: kind, revision }), settings.maxBytes);
      const pruned = await directory.prune(settings).catch((err: unknown) => {
        log.warn({ dir: settings.dir, err: writeProblem(err) }, 'could not delete older snapshots; they stay until the next snapshot');
        return [];
      });
      log.info(
        {
          node,
          service: 'chainfire',
          change: kind,
          file: file.path,
          bytes: file.bytes,
          revision: file.revision,
          durationMs: Math.round(performance.now() - started),
          pruned: pruned.map((f) => f.name),
        },
        `snapshot of Chainfire written before ${kind} (${formatBytes(file.bytes)})`,
      );
      return file;
    } finally {
      if (!ended) (stream as unknown as { cancel?: () => void }).cancel?.();
    }
  }

  private remember(key: string | undefined): void {
    if (key === undefined) return;
    this.taken.add(key);
    if (this.taken.size > REMEMBERED) this.taken.delete(this.taken.values().next().value!);
  }
}

/** The cause of a failed snapshot in words: refused for room, the stream, or the file system. */
function causeOf(err: unknown): string {
  if (err instanceof Refused) return err.message;
  if (err instanceof SnapshotTooLarge) return `the snapshot grew past snapshots.maxBytes (${formatBytes(err.bytes)}) while it was written`;
  if (isMembershipError(err)) return err.message;
  if ((err as NodeJS.ErrnoException | undefined)?.code !== undefined && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
    return writeProblem(err);
  }
  return `Chainfire's snapshot stream failed: ${errorMessage(err)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
