import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, decodeGrpcMessage, frame, grpcTimeout, isInvalidTokenMessage, statusOf } from './grpc.js';

describe('gRPC framing', () => {
  it('prefixes a message with its flag and big-endian length', () => {
    assert.equal(frame(Buffer.from('abc')).toString('hex'), '0000000003616263');
    assert.equal(frame(Buffer.alloc(0)).toString('hex'), '0000000000');
  });

  it('cuts messages out of chunks however the data arrives', () => {
    const stream = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.alloc(0)), frame(Buffer.alloc(300, 7)), frame(Buffer.from('last'))]);
    for (const size of [1, 2, 5, 7, 64, stream.length]) {
      const decoder = new FrameDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...decoder.push(stream.subarray(i, i + size)));
      assert.deepEqual(out.map((b) => b.length), [3, 0, 300, 4], `chunks of ${size}`);
      assert.equal(out[0]!.toString(), 'one');
      assert.equal(out[3]!.toString(), 'last');
      assert.equal(decoder.buffered, 0);
    }
  });

  it('refuses a compressed message, which it never asks for', () => {
    const compressed = frame(Buffer.from('x'));
    compressed[0] = 1;
    assert.throws(() => new FrameDecoder().push(compressed), /compressed/);
  });

  it('keeps a partial message until the rest arrives', () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(frame(Buffer.from('hello')).subarray(0, 6)), []);
    assert.equal(decoder.buffered, 6);
  });
});

describe('gRPC headers', () => {
  it('formats grpc-timeout in milliseconds, or seconds past 8 digits', () => {
    assert.equal(grpcTimeout(5000), '5000m');
    assert.equal(grpcTimeout(0.2), '1m');
    assert.equal(grpcTimeout(-5), '1m');
    assert.equal(grpcTimeout(200_000_000), '200000S');
  });

  it('reads grpc-status and the percent-encoded grpc-message', () => {
    assert.deepEqual(statusOf({ 'grpc-status': '0' }), { code: 0, message: '' });
    assert.deepEqual(statusOf({ 'grpc-status': '16', 'grpc-message': 'etcdserver:%20invalid%20auth%20token' }), {
      code: 16,
      message: 'etcdserver: invalid auth token',
    });
    assert.equal(statusOf({ ':status': 200 }), undefined);
    assert.equal(decodeGrpcMessage('100%'), '100%');
  });

  it('recognises the answers that mean the token has to be renewed', () => {
    assert.ok(isInvalidTokenMessage('etcdserver: invalid auth token'));
    assert.ok(isInvalidTokenMessage('rpc error: code = Unauthenticated desc = etcdserver: invalid auth token'));
    assert.ok(!isInvalidTokenMessage('etcdserver: permission denied'));
    assert.ok(!isInvalidTokenMessage('etcdserver: authentication failed, invalid user ID or password'));
  });
});
