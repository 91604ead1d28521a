/**
 * The protocol buffers of the few etcd v3 calls the first-boot agent makes
 * (etcdserverpb rpc.proto and mvccpb kv.proto of etcd 3.4), encoded and
 * decoded by hand: a generic protobuf library would cost more to load than
 * these messages are worth. Fields at their default value are left out when
 * encoding, as proto3 does; unknown fields are skipped when decoding.
 *
 * int64 fields travel as varints of their two's complement. Revisions stay
 * far below 2^53 and are numbers here; lease and watch IDs use all 64 bits
 * and are decimal strings.
 */
import type { RawKv } from '../records.js';

const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_LENGTH = 2;
const WIRE_32BIT = 5;

export class ProtoWriter {
  private readonly parts: Buffer[] = [];

  /** An int64 or uint64 field: a number, a bigint or a decimal string (IDs); 0 is left out. */
  int64(field: number, value: number | bigint | string): this {
    const v = BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(value));
    if (v === 0n) return this;
    this.tag(field, WIRE_VARINT);
    this.parts.push(varint(v));
    return this;
  }

  bool(field: number, value: boolean): this {
    if (!value) return this;
    this.tag(field, WIRE_VARINT);
    this.parts.push(Buffer.from([1]));
    return this;
  }

  /** A bytes or string field (strings as UTF-8); empty is left out. */
  bytes(field: number, value: Buffer | string): this {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (b.length === 0) return this;
    return this.lengthDelimited(field, b);
  }

  /** An embedded message, written even when empty (its presence can matter, as in a oneof). */
  message(field: number, encoded: Buffer): this {
    return this.lengthDelimited(field, encoded);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }

  private lengthDelimited(field: number, b: Buffer): this {
    this.tag(field, WIRE_LENGTH);
    this.parts.push(varint(BigInt(b.length)), b);
    return this;
  }

  private tag(field: number, wire: number): void {
    this.parts.push(varint(BigInt((field << 3) | wire)));
  }
}

function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

export interface ProtoField {
  field: number;
  wire: number;
  /** the value of a varint field, as unsigned 64 bits */
  varint: bigint;
  /** the content of a length-delimited field */
  bytes: Buffer;
}

/** The fields of an encoded message, in order. Throws on a truncated or malformed message. */
export function* readFields(buf: Buffer): Generator<ProtoField> {
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated protobuf varint');
      const byte = buf[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf varint longer than 10 bytes');
    }
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === WIRE_VARINT) {
      yield { field, wire, varint: readVarint(), bytes: EMPTY };
    } else if (wire === WIRE_LENGTH) {
      const len = Number(readVarint());
      if (pos + len > buf.length) throw new Error('truncated protobuf field');
      const bytes = buf.subarray(pos, pos + len);
      pos += len;
      yield { field, wire, varint: 0n, bytes };
    } else if (wire === WIRE_64BIT) {
      pos += 8;
    } else if (wire === WIRE_32BIT) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    if (pos > buf.length) throw new Error('truncated protobuf field');
  }
}

const EMPTY = Buffer.alloc(0);

/** A signed int64 varint as a number (revisions, TTLs). */
function int(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** A signed int64 varint as a decimal string (lease and watch IDs). */
function id(v: bigint): string {
  return BigInt.asIntN(64, v).toString();
}

// ---------------------------------------------------------------------------
// Messages

export interface ResponseHeader {
  clusterId: string;
  memberId: string;
  revision: number;
  raftTerm: number;
}

export function decodeHeader(buf: Buffer): ResponseHeader {
  const h: ResponseHeader = { clusterId: '0', memberId: '0', revision: 0, raftTerm: 0 };
  for (const f of readFields(buf)) {
    if (f.field === 1) h.clusterId = f.varint.toString();
    else if (f.field === 2) h.memberId = f.varint.toString();
    else if (f.field === 3) h.revision = int(f.varint);
    else if (f.field === 4) h.raftTerm = Number(f.varint);
  }
  return h;
}

const NO_HEADER: ResponseHeader = { clusterId: '0', memberId: '0', revision: 0, raftTerm: 0 };

/** mvccpb.KeyValue, with key and value as UTF-8 text (what the records are). */
export interface KeyValue extends RawKv {
  version: number;
  /** the lease the key is bound to, "0" for none */
  lease: string;
}

export function decodeKeyValue(buf: Buffer): KeyValue {
  const kv: KeyValue = { key: '', value: '', createRevision: 0, modRevision: 0, version: 0, lease: '0' };
  for (const f of readFields(buf)) {
    if (f.field === 1) kv.key = f.bytes.toString('utf8');
    else if (f.field === 2) kv.createRevision = int(f.varint);
    else if (f.field === 3) kv.modRevision = int(f.varint);
    else if (f.field === 4) kv.version = int(f.varint);
    else if (f.field === 5) kv.value = f.bytes.toString('utf8');
    else if (f.field === 6) kv.lease = id(f.varint);
  }
  return kv;
}

/** RangeRequest: one key, or [key, rangeEnd). */
export function encodeRangeRequest(req: { key: string; rangeEnd?: Buffer }): Buffer {
  const w = new ProtoWriter().bytes(1, req.key);
  if (req.rangeEnd !== undefined) w.bytes(2, req.rangeEnd);
  return w.finish();
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  count: number;
}

export function decodeRangeResponse(buf: Buffer): RangeResponse {
  const r: RangeResponse = { header: NO_HEADER, kvs: [], count: 0 };
  for (const f of readFields(buf)) {
    if (f.field === 1) r.header = decodeHeader(f.bytes);
    else if (f.field === 2) r.kvs.push(decodeKeyValue(f.bytes));
    else if (f.field === 4) r.count = int(f.varint);
  }
  return r;
}

export function encodePutRequest(req: { key: string; value: string; lease?: string }): Buffer {
  const w = new ProtoWriter().bytes(1, req.key).bytes(2, req.value);
  if (req.lease !== undefined) w.int64(3, req.lease);
  return w.finish();
}

/** DeleteRangeResponse: how many keys went. */
export function decodeDeleteRangeResponse(buf: Buffer): { header: ResponseHeader; deleted: number } {
  const r = { header: NO_HEADER, deleted: 0 };
  for (const f of readFields(buf)) {
    if (f.field === 1) r.header = decodeHeader(f.bytes);
    else if (f.field === 2) r.deleted = int(f.varint);
  }
  return r;
}

/** Responses that matter only for their header (PutResponse, LeaseRevokeResponse). */
export function decodeHeaderOnly(buf: Buffer): { header: ResponseHeader } {
  let header = NO_HEADER;
  for (const f of readFields(buf)) if (f.field === 1) header = decodeHeader(f.bytes);
  return { header };
}

export function encodeLeaseGrantRequest(ttlSeconds: number): Buffer {
  return new ProtoWriter().int64(1, ttlSeconds).finish();
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  id: string;
  ttl: number;
  error: string;
}

export function decodeLeaseGrantResponse(buf: Buffer): LeaseGrantResponse {
  const r: LeaseGrantResponse = { header: NO_HEADER, id: '0', ttl: 0, error: '' };
  for (const f of readFields(buf)) {
    if (f.field === 1) r.header = decodeHeader(f.bytes);
    else if (f.field === 2) r.id = id(f.varint);
    else if (f.field === 3) r.ttl = int(f.varint);
    else if (f.field === 4) r.error = f.bytes.toString('utf8');
  }
  return r;
}

/** LeaseRevokeRequest and LeaseKeepAliveRequest: just the ID. */
export function encodeLeaseId(leaseId: string): Buffer {
  return new ProtoWriter().int64(1, leaseId).finish();
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  id: string;
  /** the remaining TTL in seconds; 0 when the lease no longer exists */
  ttl: number;
}

export function decodeLeaseKeepAliveResponse(buf: Buffer): LeaseKeepAliveResponse {
  const r: LeaseKeepAliveResponse = { header: NO_HEADER, id: '0', ttl: 0 };
  for (const f of readFields(buf)) {
    if (f.field === 1) r.header = decodeHeader(f.bytes);
    else if (f.field === 2) r.id = id(f.varint);
    else if (f.field === 3) r.ttl = int(f.varint);
  }
  return r;
}

/** WatchRequest with a create_request: one key (or [key, rangeEnd)) from `startRevision`. */
export function encodeWatchCreateRequest(req: { key: string; rangeEnd?: Buffer; startRevision: number }): Buffer {
  const create = new ProtoWriter().bytes(1, req.key);
  if (req.rangeEnd !== undefined) create.bytes(2, req.rangeEnd);
  create.int64(3, req.startRevision);
  return new ProtoWriter().message(1, create.finish()).finish();
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export interface WatchResponse {
  header: ResponseHeader;
  watchId: string;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: WatchEvent[];
}

export function decodeWatchResponse(buf: Buffer): WatchResponse {
  const r: WatchResponse = { header: NO_HEADER, watchId: '0', created: false, canceled: false, compactRevision: 0, cancelReason: '', events: [] };
  for (const f of readFields(buf)) {
    if (f.field === 1) r.header = decodeHeader(f.bytes);
    else if (f.field === 2) r.watchId = id(f.varint);
    else if (f.field === 3) r.created = f.varint !== 0n;
    else if (f.field === 4) r.canceled = f.varint !== 0n;
    else if (f.field === 5) r.compactRevision = int(f.varint);
    else if (f.field === 6) r.cancelReason = f.bytes.toString('utf8');
    else if (f.field === 11) r.events.push(decodeEvent(f.bytes));
  }
  return r;
}

function decodeEvent(buf: Buffer): WatchEvent {
  let type: WatchEvent['type'] = 'put';
  let kv: KeyValue | undefined;
  for (const f of readFields(buf)) {
    if (f.field === 1) type = f.varint === 1n ? 'delete' : 'put';
    else if (f.field === 2) kv = decodeKeyValue(f.bytes);
  }
  return { type, kv: kv ?? decodeKeyValue(EMPTY) };
}

export function encodeAuthenticateRequest(name: string, password: string): Buffer {
  return new ProtoWriter().bytes(1, name).bytes(2, password).finish();
}

export function decodeAuthenticateResponse(buf: Buffer): { header: ResponseHeader; token: string } {
  let header = NO_HEADER;
  let token = '';
  for (const f of readFields(buf)) {
    if (f.field === 1) header = decodeHeader(f.bytes);
    else if (f.field === 2) token = f.bytes.toString('utf8');
  }
  return { header, token };
}

/**
 * The end of the range that holds every key starting with `prefix`: the
 * prefix with its last byte incremented (bytes of 0xff dropped first), as
 * etcd's clientv3 computes it; "\0" (every key) when no such end exists.
 */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
