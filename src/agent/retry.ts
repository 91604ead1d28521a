/**
 * The agent's calls to Chainfire ride out transient trouble (a leader
 * change, a timed-out lease grant or put, a member restarting: see
 * src/store/etcd-lite/transient.ts) within the agent's `--timeout`: each
 * failure that passes by itself is logged at WARN with its cause and tried
 * again with backoff until the deadline; anything else (access refused, out
 * of space, a TLS misfit) ends the try at once with its own error.
 */
import pRetry from 'p-retry';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { transientCause } from '../store/etcd-lite/transient.js';

export interface RetryOptions {
  /** the moment (epoch ms) after which no try starts: the agent's --timeout */
  deadline: number;
  log: Logger;
  /** ends the tries (the error thrown is the signal's reason) */
  signal?: AbortSignal;
  /** first and longest pause between tries (default 250 ms and 5 s, doubling, randomized) */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Runs `fn` until it succeeds, a failure is not transient, or the deadline passes; throws the last failure. */
export function retryTransient<T>(what: string, fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  return pRetry(() => fn(), {
    retries: Number.POSITIVE_INFINITY,
    factor: 2,
    randomize: true,
    minTimeout: opts.minDelayMs ?? 250,
    maxTimeout: opts.maxDelayMs ?? 5000,
    maxRetryTime: Math.max(0, opts.deadline - Date.now()),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    shouldRetry: ({ error, attemptNumber }) => {
      const cause = transientCause(error);
      if (cause === undefined || Date.now() >= opts.deadline) return false;
      opts.log.warn({ attempt: attemptNumber, cause, err: errorMessage(error) }, `${what} failed (${cause}); retrying`);
      return true;
    },
  });
}
