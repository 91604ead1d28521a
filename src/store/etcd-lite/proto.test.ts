import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProtoWriter,
  decodeAuthenticateResponse,
  decodeLeaseGrantResponse,
  decodeLeaseKeepAliveResponse,
  decodeRangeResponse,
  decodeWatchResponse,
  encodeAuthenticateRequest,
  encodeLeaseGrantRequest,
  encodeLeaseId,
  encodePutRequest,
  encodeRangeRequest,
  encodeWatchCreateRequest,
  prefixRangeEnd,
  readFields,
} from './proto.js';

const hex = (b: Buffer) => b.toString('hex');

/** A KeyValue as etcd encodes it. */
function kv(f: { key: string; value: string; create: number; mod: number; version: number; lease?: bigint }): Buffer {
  const w = new ProtoWriter().bytes(1, f.key).int64(2, f.create).int64(3, f.mod).int64(4, f.version).bytes(5, f.value);
  if (f.lease !== undefined) w.int64(6, f.lease);
  return w.finish();
}

function header(revision: number): Buffer {
  return new ProtoWriter().int64(1, 14841639068965178418n).int64(2, 10276657743932975437n).int64(3, revision).int64(4, 2).finish();
}

describe('protobuf encoding of the requests', () => {
  it('writes fields as etcd expects them, leaving defaults out', () => {
    assert.equal(hex(encodeRangeRequest({ key: 'foo' })), '0a03666f6f');
    assert.equal(hex(encodeRangeRequest({ key: 'a/', rangeEnd: prefixRangeEnd('a/') })), '0a02612f12026130');
    assert.equal(hex(encodePutRequest({ key: 'k', value: '' })), '0a016b');
    const put = [...readFields(encodePutRequest({ key: 'k', value: 'v', lease: '7587862087946180000' }))];
    assert.deepEqual(put.map((f) => f.field), [1, 2, 3]);
    assert.equal(put[2]!.varint, 7587862087946180000n);
    assert.equal(hex(encodeLeaseGrantRequest(10)), '080a');
    assert.equal(hex(encodeAuthenticateRequest('root', 'pw')), '0a04726f6f7412027077');
  });

  it('encodes int64 IDs above 2^53 exactly and negative values as 10-byte varints', () => {
    const big = '9223372036854775807';
    const fields = [...readFields(encodeLeaseId(big))];
    assert.equal(fields[0]!.varint.toString(), big);
    const negative = new ProtoWriter().int64(1, -1).finish();
    assert.equal(hex(negative), '08ffffffffffffffffff01');
  });

  it('wraps a watch create request in WatchRequest field 1, with the start revision', () => {
    const req = encodeWatchCreateRequest({ key: 'k', startRevision: 300 });
    const outer = [...readFields(req)];
    assert.equal(outer.length, 1);
    assert.equal(outer[0]!.field, 1);
    const inner = [...readFields(outer[0]!.bytes)];
    assert.deepEqual(inner.map((f) => f.field), [1, 3]);
    assert.equal(inner[0]!.bytes.toString(), 'k');
    assert.equal(inner[1]!.varint, 300n);
  });
});

describe('protobuf decoding of the answers', () => {
  it('reads a RangeResponse with its header and key-values, values as UTF-8', () => {
    const msg = new ProtoWriter()
      .message(1, header(42))
      .message(2, kv({ key: '/p/desired/node04', value: '{"ä":1}', create: 5, mod: 41, version: 3, lease: 7587862087946180000n }))
      .message(2, kv({ key: '/p/desired/node05', value: '', create: 6, mod: 6, version: 1 }))
      .int64(4, 2)
      .finish();
    const r = decodeRangeResponse(msg);
    assert.equal(r.header.revision, 42);
    assert.equal(r.header.clusterId, '14841639068965178418');
    assert.equal(r.count, 2);
    assert.deepEqual(r.kvs[0], { key: '/p/desired/node04', value: '{"ä":1}', createRevision: 5, modRevision: 41, version: 3, lease: '7587862087946180000' });
    assert.equal(r.kvs[1]!.lease, '0');
    assert.equal(r.kvs[1]!.value, '');
  });

  it('reads an empty answer as defaults', () => {
    const r = decodeRangeResponse(Buffer.alloc(0));
    assert.equal(r.header.revision, 0);
    assert.deepEqual(r.kvs, []);
  });

  it('reads watch responses: creation, events, compaction and cancellation', () => {
    const created = decodeWatchResponse(new ProtoWriter().message(1, header(9)).bool(3, true).finish());
    assert.equal(created.created, true);
    assert.equal(created.canceled, false);
    assert.equal(created.watchId, '0');

    const events = decodeWatchResponse(
      new ProtoWriter()
        .message(1, header(11))
        .int64(2, 3)
        .message(11, new ProtoWriter().message(2, kv({ key: 'k', value: 'v1', create: 10, mod: 10, version: 1 })).finish())
        .message(11, new ProtoWriter().int64(1, 1).message(2, new ProtoWriter().bytes(1, 'k').int64(3, 11).finish()).finish())
        .finish(),
    );
    assert.equal(events.header.revision, 11);
    assert.equal(events.watchId, '3');
    assert.deepEqual(events.events.map((e) => [e.type, e.kv.key, e.kv.value, e.kv.modRevision]), [
      ['put', 'k', 'v1', 10],
      ['delete', 'k', '', 11],
    ]);

    const compacted = decodeWatchResponse(new ProtoWriter().message(1, header(0)).bool(4, true).int64(5, 4).finish());
    assert.equal(compacted.canceled, true);
    assert.equal(compacted.compactRevision, 4);

    const refused = decodeWatchResponse(
      new ProtoWriter().int64(2, -1).bool(3, true).bool(4, true).bytes(6, 'etcdserver: permission denied').finish(),
    );
    assert.equal(refused.watchId, '-1');
    assert.equal(refused.cancelReason, 'etcdserver: permission denied');
  });

  it('reads lease and authentication answers', () => {
    const grant = decodeLeaseGrantResponse(new ProtoWriter().message(1, header(3)).int64(2, 7587862087946180000n).int64(3, 10).finish());
    assert.deepEqual([grant.id, grant.ttl, grant.error], ['7587862087946180000', 10, '']);
    const gone = decodeLeaseKeepAliveResponse(new ProtoWriter().message(1, header(3)).int64(2, 5).finish());
    assert.equal(gone.ttl, 0);
    const alive = decodeLeaseKeepAliveResponse(new ProtoWriter().int64(2, 5).int64(3, 9).finish());
    assert.equal(alive.ttl, 9);
    assert.equal(decodeAuthenticateResponse(new ProtoWriter().message(1, header(1)).bytes(2, 'AbC.12').finish()).token, 'AbC.12');
  });

  it('skips fields it does not know, of every wire type', () => {
    const tag = (field: number, wire: number) => {
      const v = (field << 3) | wire;
      return Buffer.from([(v & 0x7f) | 0x80, v >> 7]);
    };
    const msg = Buffer.concat([
      new ProtoWriter().int64(99, 5).finish(),
      tag(98, 1),
      Buffer.alloc(8, 1),
      tag(96, 5),
      Buffer.alloc(4, 2),
      new ProtoWriter().bytes(97, 'x').int64(2, 77).finish(),
    ]);
    assert.equal(decodeLeaseKeepAliveResponse(msg).id, '77');
  });

  it('refuses a truncated message', () => {
    const full = encodeRangeRequest({ key: 'foo' });
    assert.throws(() => [...readFields(full.subarray(0, 3))], /truncated/);
    assert.throws(() => [...readFields(Buffer.from([0x08, 0x80]))], /truncated/);
  });
});

describe('prefixRangeEnd', () => {
  it('increments the last byte, dropping trailing 0xff bytes', () => {
    assert.equal(prefixRangeEnd('/p/desired/').toString(), '/p/desired0');
    assert.deepEqual([...prefixRangeEnd('a\u00ff')], [0x61, 0xc3, 0xc0]);
    assert.deepEqual([...prefixRangeEnd('')], [0]);
  });
});
