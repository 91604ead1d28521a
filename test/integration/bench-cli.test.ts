import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot, runProcess } from '../support/processes.js';

const bench = path.join(repoRoot, 'dist', 'test', 'bench', 'run.js');
const run = (args: string[]) => runProcess(process.execPath, [bench, ...args], { timeoutMs: 30_000 });

describe('npm run bench: its flags', () => {
  it('--help names every scenario and flag, and runs nothing', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const word of ['join', 'recovery', 'failover', 'scale', 'agent', 'day2', 'quorum', '--quick', '--only', '--sizes', '--workers', '--json', 'BENCH_CONTROLLER_NODE_ARGS']) {
      assert.ok(r.stdout.includes(word), `usage names ${word}:\n${r.stdout}`);
    }
    assert.doesNotMatch(r.stderr, /scenario/, 'no scenario ran');
  });

  for (const [args, named] of [
    [['--sizes', '1000,ten'], /--sizes takes positive whole numbers .* "1000,ten"/],
    [['--sizes', '0'], /--sizes takes positive whole numbers/],
    [['--workers', '4,8'], /--workers takes one number/],
    [['--only', 'scale,speed'], /unknown scenario "speed"; known: join, recovery, failover, scale, agent, day2, quorum$/m],
    [['--fast'], /Unknown option '--fast'/],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit 64, naming the problem`, async () => {
      const r = await run([...args]);
      assert.equal(r.code, 64, r.stdout + r.stderr);
      assert.match(r.stderr, named);
      assert.match(r.stderr, /Usage: npm run bench/);
    });
  }
});
