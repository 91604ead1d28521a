/**
 * The agent's --start-command, run once the node was added to Chainfire as a
 * learner. It gets the variables that say how to start the local etcd and,
 * of the agent's own environment, only what a shell needs to find and run
 * programs: never CHAINFIRE_PASSWORD, ETCDCTL_* or whatever else the agent's
 * unit was given (a start command is often a script that logs its
 * environment, or starts a service that does).
 */
import { spawn } from 'node:child_process';
import { MembershipError } from '../errors.js';

/** The variables of the agent's environment the start command gets (and every LC_*). */
export const START_COMMAND_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'] as const;

/** The start command's environment: the allowed part of `from`, then `vars`. */
export function startCommandEnv(vars: Record<string, string>, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value === undefined) continue;
    if ((START_COMMAND_ENV as readonly string[]).includes(name) || /^LC_[A-Z]+$/.test(name)) env[name] = value;
  }
  return { ...env, ...vars };
}

/** Runs `command` with /bin/sh; its output goes to stderr (the agent's stdout carries only JSON log lines). */
export function runStartCommand(command: string, vars: Record<string, string>, what = 'start command'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: startCommandEnv(vars), stdio: ['ignore', 2, 2] });
    child.on('error', (err) => reject(new MembershipError('COMMAND_FAILED', `cannot run ${what}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new MembershipError('COMMAND_FAILED', `${what} exited with ${code ?? signal}: ${command}`));
    });
  });
}
