/**
 * The directory the controller keeps its Chainfire snapshots in: listing,
 * free space, the atomic write (a hidden temporary file in the same
 * directory, fsync, rename, fsync of the directory; the temporary file
 * deleted on any failure) and retention. Only files named as naming.ts names
 * them are listed or ever deleted; anything else in the directory is left alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSnapshotFileName, temporaryFileName, temporaryFileWriter, type SnapshotName } from './naming.js';
import { toPrune, type SnapshotLimits } from './retention.js';

export interface SnapshotFile extends SnapshotName {
  name: string;
  path: string;
  bytes: number;
}

/** A write stopped because the file grew past what the cap allows. */
export class SnapshotTooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`the snapshot grew past ${bytes} bytes while it was written`);
    this.name = 'SnapshotTooLarge';
  }
}

/** What a failure of the file system means, in words, for a directory the controller writes to. */
export function writeProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (the controller\'s user must be able to create files there)';
    case 'EROFS':
      return 'read-only filesystem (under systemd: StateDirectory=, or ReadWritePaths= for a directory elsewhere)';
    case 'ENOSPC':
      return 'disk full (ENOSPC)';
    case 'EDQUOT':
      return 'disk quota exceeded (EDQUOT)';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ENOENT':
      return 'not found';
    default:
      return code !== undefined ? `${code}: ${(err as Error).message}` : String((err as Error | undefined)?.message ?? err);
  }
}

export class SnapshotDirectory {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory (mode 0700: snapshots hold every user's password hash) if it does not exist. */
  async ensure(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Bytes available to the controller's user on the directory's filesystem. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.dir);
    return Number(s.bavail) * Number(s.bsize);
  }

  /** The controller's snapshots in the directory, newest first. */
  async list(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for (const name of await readdir(this.dir)) {
      const parsed = parseSnapshotFileName(name);
      if (parsed === undefined) continue;
      const path = join(this.dir, name);
      const st = await stat(path).catch(() => undefined); // deleted meanwhile
      if (st?.isFile()) out.push({ ...parsed, name, path, bytes: st.size });
    }
    return out.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  }

  /**
   * Deletes temporary files that no running writer holds: left by a crash (or
   * kill -9) in the middle of a write, they would take space for nothing.
   */
  async removeStaleTemporaries(isAlive: (pid: number) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.dir)) {
      const pid = temporaryFileWriter(name);
      if (pid === undefined || (pid !== process.pid && isAlive(pid))) continue;
      await rm(join(this.dir, name), { force: true });
      removed.push(name);
    }
    return removed;
  }

  /**
   * Streams `chunks` into the directory under the name `name()` gives once the
   * last chunk is in (the name may depend on what the stream said): atomically,
   * so that a file with a snapshot's name is always whole. Stops with
   * SnapshotTooLarge past `maxBytes`. On any failure nothing is left behind.
   */
  async write(chunks: AsyncIterable<Uint8Array>, name: () => string, maxBytes: number): Promise<SnapshotFile> {
    const temporary = join(this.dir, temporaryFileName(process.pid, randomBytes(4).toString('hex')));
    let file: FileHandle | undefined;
    try {
      file = await open(temporary, 'wx', 0o600);
      let bytes = 0;
      for await (const chunk of chunks) {
        bytes += chunk.length;
        if (bytes > maxBytes) throw new SnapshotTooLarge(maxBytes);
        await writeAll(file, chunk);
      }
      await file.sync();
      await file.close();
      file = undefined;
      const final = name();
      const parsed = parseSnapshotFileName(final);
      if (parsed === undefined) throw new Error(`internal: ${final} is not a snapshot's name`);
      const path = join(this.dir, final);
      await rename(temporary, path);
      await this.syncDirectory();
      return { ...parsed, name: final, path, bytes };
    } catch (err) {
      await file?.close().catch(() => undefined);
      await rm(temporary, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Deletes the oldest snapshots beyond the limits, oldest first (the newest is always kept); returns what it deleted. */
  async prune(limits: SnapshotLimits): Promise<SnapshotFile[]> {
    const files = await this.list();
    const doomed = new Set(toPrune(files, limits).map((f) => f.name));
    const deleted: SnapshotFile[] = [];
    for (const f of files.reverse()) {
      if (!doomed.has(f.name)) continue;
      await rm(f.path, { force: true });
      deleted.push(f);
    }
    if (deleted.length > 0) await this.syncDirectory();
    return deleted;
  }

  /** Makes a rename or delete in the directory durable. */
  private async syncDirectory(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

/** A write may take less than the whole buffer: go on until all of it is written. */
async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
