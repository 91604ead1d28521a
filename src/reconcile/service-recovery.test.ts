import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Service } from '../schema/agent-report.js';
import { ServiceRecovery } from './service-recovery.js';

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail('condition not reached');
    await sleep(2);
  }
}

describe('ServiceRecovery', () => {
  it('probes a down service once per period however many nodes wait, and wakes them all when it answers', async () => {
    let up = false;
    let probes = 0;
    const woken: Array<[Service, string[]]> = [];
    const r = new ServiceRecovery({
      everyMs: 10,
      probes: {
        flaredb: async () => {
          probes += 1;
          if (!up) throw new Error('connect ECONNREFUSED');
        },
      },
      onRecovered: (service, nodes) => woken.push([service, nodes]),
    });
    for (let i = 0; i < 1000; i++) r.wait('flaredb', `w${i}`);
    r.wait('flaredb', 'w0');
    assert.equal(r.waitingFor('flaredb'), 1000);
    await until(() => probes >= 5);
    const during = probes;
    assert.ok(during < 50, `${during} probes in about 5 periods`);
    assert.equal(woken.length, 0);
    up = true;
    await until(() => woken.length === 1);
    assert.equal(woken[0]![0], 'flaredb');
    assert.equal(woken[0]![1].length, 1000);
    assert.equal(r.waitingFor('flaredb'), 0);
    const after = probes;
    await sleep(50);
    assert.equal(probes, after, 'no probes while nobody waits');
    r.stop();
  });

  it('keeps services apart, ignores services without a probe, and stops probing when stopped', async () => {
    let probes = 0;
    const woken: Service[] = [];
    const r = new ServiceRecovery({
      everyMs: 5,
      probes: {
        iam: async () => {
          probes += 1;
          throw new Error('HTTP 503');
        },
        chainfire: async () => undefined,
      },
      onRecovered: (service) => woken.push(service),
    });
    r.wait('flaredb', 'a');
    assert.equal(r.waitingFor('flaredb'), 0, 'no probe for FlareDB: nothing to wait for');
    r.wait('iam', 'a');
    r.wait('chainfire', 'b');
    await until(() => woken.includes('chainfire') && probes >= 2);
    assert.deepEqual(woken, ['chainfire']);
    assert.equal(r.waitingFor('iam'), 1);
    r.stop();
    const stoppedAt = probes;
    await sleep(30);
    assert.ok(probes <= stoppedAt + 1, 'at most the probe already in flight');
    r.wait('iam', 'c');
    assert.equal(r.waitingFor('iam'), 0);
  });
});

