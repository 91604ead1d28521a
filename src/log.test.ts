import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, RENAMED_FIELDS, type LoggerOptions } from './log.js';

/** A logger whose raw lines land in `lines`. */
function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, destination: { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) } });
  return { log, lines };
}

/**
 * The keys of a JSON object line at its top level, in order and with
 * repetitions (JSON.parse would keep only the last of a repeated key).
 */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

function assertNoRepeatedKey(line: string): void {
  const keys = topLevelKeys(line);
  assert.deepEqual(keys, [...new Set(keys)], `a key appears twice: ${line}`);
}

describe('log lines: one key per field', () => {
  it('a child with { service: "flaredb" } keeps the program in service and writes flaredb as memberService', () => {
    const { log, lines } = capture({ base: { service: 'membership-controller' } });
    log.child({ component: 'reconciler' }).child({ service: 'flaredb' }).info({ node: 'node04' }, 'added FlareDB member');
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.match(/"service":/g)?.length, 1, line);
    assert.match(line, /"service":"membership-controller"/);
    assert.match(line, /"memberService":"flaredb"/);
    assertNoRepeatedKey(line);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.service, 'membership-controller');
    assert.equal(entry.memberService, 'flaredb');
    assert.equal(entry.component, 'reconciler');
  });

  it('a call with { service } does the same: log.info({ node, service: "chainfire" }, ...)', () => {
    const { log, lines } = capture({ base: { service: 'membership-controller' } });
    log.info({ node: 'node04', service: 'chainfire', peerUrl: 'https://10.0.1.13:2380' }, 'adding learner');
    assertNoRepeatedKey(lines[0]!);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(
      [entry.service, entry.memberService, entry.node, entry.message],
      ['membership-controller', 'chainfire', 'node04', 'adding learner'],
    );
    assert.equal(RENAMED_FIELDS.service, 'memberService');
  });

  it('the agent\'s base service (the service its unit joins) stays service', () => {
    const { log, lines } = capture({ base: { service: 'flaredb' } });
    log.child({ operation: 'cluster-join' }).info('waiting');
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual([entry.service, entry.operation, entry.memberService], ['flaredb', 'cluster-join', undefined]);
  });

  it('a field bound again replaces the bound value, on that line or in that child only', () => {
    const { log, lines } = capture({ base: { service: 'membership-controller' } });
    const child = log.child({ operation: 'reconcile', node: 'node01' });
    child.info({ node: 'node04' }, 'one');
    child.child({ operation: 'decommission' }).info('two');
    child.child({ service: 'iam' }).info({ service: 'flaredb' }, 'three');
    child.info('four');
    lines.forEach(assertNoRepeatedKey);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(entries.map((e) => [e.operation, e.node, e.memberService]), [
      ['reconcile', 'node04', undefined],
      ['decommission', 'node01', undefined],
      ['reconcile', 'node01', 'flaredb'],
      ['reconcile', 'node01', undefined],
    ]);
  });

  it('fields named like the logger\'s own keys are renamed; a lone { message } is the message', () => {
    const { log, lines } = capture();
    log.info({ level: 'x', timestamp: 't', message: 'm' }, 'the message');
    log.info({ message: 'alone' });
    lines.forEach(assertNoRepeatedKey);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(first!.level, 'INFO');
    assert.equal(first!.message, 'the message');
    assert.deepEqual([first!.levelField, first!.timestampField, first!.messageField], ['x', 't', 'm']);
    assert.equal(second!.message, 'alone');
  });

  it('redacts secrets on a line whose bound field was replaced', () => {
    const { log, lines } = capture({ base: { service: 'membership-controller' } });
    log.child({ node: 'node01' }).warn({ node: 'node04', password: 'hunter2', auth: { password: 'p' } }, 'login');
    assertNoRepeatedKey(lines[0]!);
    assert.ok(!lines[0]!.includes('hunter2') && !lines[0]!.includes('"p"'), lines[0]);
  });

  it('the pretty format shows memberService as a field', () => {
    const { log, lines } = capture({ base: { service: 'membership-controller' }, format: 'pretty' });
    log.info({ node: 'node04', service: 'iam' }, 'registered node with IAM');
    assert.match(lines[0]!, /INFO {2}membership-controller: registered node with IAM node=node04 memberService=iam$/);
  });
});

describe('the pretty format and record text with control characters', () => {
  it('escapes them in the message and in field values; JSON lines keep them as JSON escapes', () => {
    const pretty = capture({ base: { service: 'membership-controller' }, format: 'pretty' });
    pretty.log.error({ key: '/p/desired/bad\u009bname', problem: 'a\x1b[2J\nb' }, 'rejected node13: bad\x1b[2J spec\r\nFAKE 2026-01-01 INFO forged');
    assert.equal(pretty.lines.length, 1);
    assert.doesNotMatch(pretty.lines[0]!, /[\x00-\x1f\x7f-\x9f]/);
    assert.match(pretty.lines[0]!, /rejected node13: bad\\x1b\[2J spec\\r\\nFAKE 2026-01-01 INFO forged key=\/p\/desired\/bad\\x9bname problem="a\\u001b\[2J\\nb"$/);
    const json = capture({ base: { service: 'membership-controller' } });
    json.log.error({ key: 'bad\u009bname' }, 'x\x1b[2J');
    assert.equal((JSON.parse(json.lines[0]!) as { message: string }).message, 'x\x1b[2J');
  });
});
