import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { API_VERSION } from '../schema/common.js';
import { MAX_RECORD_BYTES, parseRecords } from './apply.js';

const record = (name: string, metadata: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'NodeMembership',
  metadata: { name, ...metadata },
  spec: { role: 'worker' },
});

function refused(text: string, ...fragments: string[]): void {
  assert.throws(() => parseRecords(text, 'nodes.json'), (err: unknown) => {
    assert.ok(err instanceof MembershipError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    for (const f of fragments) assert.ok(err.message.includes(f), `${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('parseRecords: what the store would refuse or JavaScript would drop is refused up front', () => {
  it('refuses labels: {"__proto__": ...} (dropped silently before), naming the field and the record', () => {
    refused('{"apiVersion":"membership.photoncloud.io/v1alpha1","kind":"NodeMembership","metadata":{"name":"node04","labels":{"__proto__":{"a":"b"}}},"spec":{"role":"worker"}}',
      'nodes.json: metadata.labels.__proto__: "__proto__" is not allowed as a key');
    refused(JSON.stringify([record('node04'), record('node05', { annotations: { constructor: 'x' } })]), 'nodes.json[1]: metadata.annotations.constructor');
    refused(JSON.stringify([record('node04', { labels: { prototype: 'x' } })]), 'metadata.labels.prototype', 'nothing was applied');
  });

  it('refuses a record larger than Chainfire accepts, naming it, and keeps a large but acceptable one', () => {
    const big = record('node08', { labels: { big: 'y'.repeat(MAX_RECORD_BYTES) } });
    refused(JSON.stringify([record('node04'), big]), 'nodes.json[1]: record node08 is', 'at most 1 MiB per record', 'nothing was applied');
    const fine = record('node09', { labels: { big: 'y'.repeat(MAX_RECORD_BYTES - 1000) } });
    assert.equal(parseRecords(JSON.stringify(fine), 'nodes.json')[0]!.metadata.name, 'node09');
  });

  it('refuses input nested deeper than any record, before parsing it', () => {
    refused(`[${'{"a":'.repeat(10_000)}`, 'nodes.json: nested more than 64 levels deep (at line 1 column 317)');
  });
});
