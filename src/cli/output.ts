/**
 * How the three programs end so that their output is whole: stdout on a
 * pipe is written asynchronously, and process.exit() drops what the pipe has
 * not taken yet (`membershipctl get -o json | jq` lost all past the first 64
 * KiB). And a reader that goes away early (`| head -c 10`) is no error of
 * the program: no EPIPE stack trace, the exit status it had.
 */

/** Resolves once everything written to `stream` so far was handed to the OS (or the stream is gone). */
export function drained(stream: NodeJS.WritableStream & { destroyed?: boolean; writableLength?: number }): Promise<void> {
  if (stream.destroyed === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.removeListener('close', done);
      resolve();
    };
    stream.once('close', done);
    // Written after everything before it, so its callback runs once they are out (or failed: the reader went away).
    stream.write('', () => done());
  });
}

/** Sets the exit status, waits until stdout and stderr are out, then exits. */
export async function exitWhenDrained(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

let guarded = false;

/**
 * A reader of stdout that went away (EPIPE) ends the program at once, with
 * the status it had so far, and without a word (there is no one to read it);
 * a reader of stderr that went away is ignored. Installed once, at start.
 */
export function guardBrokenPipes(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
  process.stderr.on('error', () => undefined);
}
