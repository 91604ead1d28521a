/**
 * gRPC's framing over HTTP/2, as far as etcd's API needs it: each message is
 * a 5-byte prefix (compressed flag, big-endian length) and the protobuf; the
 * outcome is `grpc-status` (and `grpc-message`) in the trailers, or in the
 * headers of a response that has no messages.
 */

/** gRPC status codes the client acts on. */
export const GRPC = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** Cuts the data of a response into messages as it arrives; a chunk may hold part of a message or several. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 5) {
      const compressed = this.pending.readUInt8(0);
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) break;
      if (compressed !== 0) throw new Error('the server sent a compressed gRPC message, which was not asked for');
      out.push(this.pending.subarray(5, 5 + length));
      this.pending = this.pending.subarray(5 + length);
    }
    return out;
  }

  /** Bytes of a message that has not arrived whole. */
  get buffered(): number {
    return this.pending.length;
  }
}

/** The `grpc-timeout` header for a deadline `ms` from now (at most 8 digits, per the spec). */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 100_000_000 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

export interface GrpcStatus {
  code: number;
  message: string;
}

/** `grpc-status` and `grpc-message` of response headers or trailers, if present. */
export function statusOf(headers: Record<string, unknown>): GrpcStatus | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const rawMessage = headers['grpc-message'];
  const message = typeof rawMessage === 'string' ? decodeGrpcMessage(rawMessage) : '';
  return { code: Number.isInteger(code) ? code : 2, message };
}

/** grpc-message is percent-encoded. */
export function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** True for an answer that says the token is unknown or expired (JWT expiry, a restarted member, the TTL of simple tokens). */
export function isInvalidTokenMessage(message: string): boolean {
  return /invalid auth token|auth token is expired|token is expired/i.test(message);
}
