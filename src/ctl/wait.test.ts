import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { NOW, cond, desiredRecord, sampleViews, statusRecord } from '../../test/support/ctl-records.js';
import { ProgressLine, describeWaitFor, formatDuration, judge, lastSeenBlock, parseWaitFor } from './wait.js';

describe('wait --for', () => {
  it('accepts condition=TYPE[=STATUS], phase=PHASE and delete, in any case', () => {
    assert.deepEqual(parseWaitFor('condition=Ready'), { kind: 'condition', type: 'Ready', status: 'True' });
    assert.deepEqual(parseWaitFor('condition=chainfiremember'), { kind: 'condition', type: 'ChainfireMember', status: 'True' });
    assert.deepEqual(parseWaitFor('condition=Ready=false'), { kind: 'condition', type: 'Ready', status: 'False' });
    assert.deepEqual(parseWaitFor('phase=removed'), { kind: 'phase', phase: 'Removed' });
    assert.deepEqual(parseWaitFor('delete'), { kind: 'delete' });
    assert.equal(describeWaitFor(parseWaitFor('condition=ready=unknown')), 'condition=Ready=Unknown');
  });

  it('rejects anything else as a usage error naming the accepted forms', () => {
    for (const bad of ['Ready', 'condition=Healthy', 'phase=Done', 'status=Ready', 'condition=Ready=Maybe', 'condition=Ready=True=x', '']) {
      assert.throws(
        () => parseWaitFor(bad),
        (err: unknown) =>
          err instanceof MembershipError &&
          err.code === 'USAGE' &&
          err.message.includes('accepted forms: condition=<type>[=True|False|Unknown]') &&
          err.message.includes('phase=<phase> (Pending, Joining, Ready, Degraded, Removing, Removed, Failed)') &&
          err.message.includes('delete'),
        bad,
      );
    }
  });
});

describe('judging a wait', () => {
  const [node01, node04] = sampleViews();

  it('is met by the condition or phase of the current generation', () => {
    assert.deepEqual(judge('node01', parseWaitFor('condition=Ready'), node01!), {
      met: true,
      summary: 'phase Ready; ChainfireMember=True Ready=True',
    });
    assert.equal(judge('node01', parseWaitFor('phase=Ready'), node01!).met, true);
    const v = judge('node04', parseWaitFor('condition=ChainfireMember'), node04!);
    assert.equal(v.met, false);
    assert.equal(v.rejected, undefined);
    assert.equal(v.summary, 'phase Joining; AgentReady=True ChainfireMember=False/LearnerCatchingUp FlareDBMember=False/WaitingForChainfire Ready=False/LearnerCatchingUp');
  });

  it('does not count a status of an older generation', () => {
    const newer = { desired: desiredRecord('node01', { role: 'control-plane', bootstrap: true }, 30), status: node01!.status! };
    const v = judge('node01', parseWaitFor('condition=Ready'), newer);
    assert.equal(v.met, false);
    assert.match(v.summary, /^phase Ready, waiting for the controller to observe generation 30 \(status is of 7\)/);
  });

  it('gives up at once when the node failed for this generation (exit 65), but not when Failed is what is awaited', () => {
    const failed = {
      desired: desiredRecord('node09', { role: 'worker' }, 40),
      status: statusRecord('node09', {
        observedGeneration: 40,
        phase: 'Failed',
        conditions: [cond('Ready', 'False', 'Conflict', 'raft address 10.0.1.9:2380 is also claimed by node08', 5, 40)],
      }, 41),
    };
    const v = judge('node09', parseWaitFor('condition=Ready'), failed);
    assert.equal(v.rejected?.code, 'REJECTED');
    assert.match(v.rejected!.message, /node09 cannot reach condition=Ready at generation 40: Ready Conflict: raft address .* fix the record and apply it again/);
    assert.equal(judge('node09', parseWaitFor('phase=Failed'), failed).met, true);
  });

  it('delete is met once the desired record is gone; other waits end with NOT_FOUND then', () => {
    assert.deepEqual(judge('node04', { kind: 'delete' }, {}), { met: true, summary: 'deleted' });
    assert.equal(judge('node04', { kind: 'delete' }, node04!).summary, 'desired record present (generation 12), phase Joining');
    assert.equal(judge('node04', parseWaitFor('condition=Ready'), { status: node04!.status! }).rejected?.code, 'NOT_FOUND');
  });

  it('reports the last conditions seen as a table', () => {
    assert.equal(
      lastSeenBlock(node01!, NOW),
      [
        '  phase Ready, observed generation 7 (desired generation 7)',
        '  TYPE              STATUS   REASON    AGE   MESSAGE',
        '  ChainfireMember   True     Adopted   3h    member 8e9e05c52164694d of the initial cluster, voter',
        '  Ready             True     Joined    3h    member of Chainfire',
      ].join('\n'),
    );
    assert.equal(lastSeenBlock({ desired: node01!.desired! }, NOW), '  no status record (is membership-controller running?)');
  });

  it('formats durations as typed', () => {
    assert.deepEqual([500, 2000, 90_000, 600_000, 3_600_000, 5_400_000].map(formatDuration), ['500ms', '2s', '90s', '10m', '1h', '90m']);
  });
});

describe('wait progress', () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, columns: 40, write: (s: string) => out.push(s) } };
  };

  it('shows record text with control characters escaped, piped or on a terminal', () => {
    const piped = sink(false);
    new ProgressLine(piped.stream).update('node14: status record is invalid: \x1b[2J{');
    assert.deepEqual(piped.out, ['node14: status record is invalid: \\x1b[2J{\n']);
    const tty = sink(true);
    const p = new ProgressLine(tty.stream, () => 0);
    p.update('n: \x1b]0;t\x07');
    assert.deepEqual(tty.out, ['\r\x1b[K[0s] n: \\x1b]0;t\\x07']);
  });

  it('piped: one plain line per change, nothing for a repeat', () => {
    const { out, stream } = sink(false);
    const p = new ProgressLine(stream);
    p.update('node04: phase Joining');
    p.update('node04: phase Joining');
    p.redraw();
    p.update('node04: phase Ready');
    p.done();
    assert.deepEqual(out, ['node04: phase Joining\n', 'node04: phase Ready\n']);
  });

  it('on a terminal: one line rewritten in place with the time waited, cut to the width, ended by a newline', () => {
    const { out, stream } = sink(true);
    let t = 1000;
    const p = new ProgressLine(stream, () => t);
    p.update('node04: phase Joining');
    t += 3000;
    p.redraw();
    p.update('node04: phase Joining; ChainfireMember=False/LearnerCatchingUp');
    p.done();
    assert.deepEqual(out, [
      '\r\x1b[K[0s] node04: phase Joining',
      '\r\x1b[K[3s] node04: phase Joining',
      '\r\x1b[K[3s] node04: phase Joining; ChainfireM…',
      '\n',
    ]);
  });
});
