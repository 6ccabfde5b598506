// The few pieces of gRPC-over-HTTP/2 the shim speaks itself: message framing, status
// trailers and the grpc-timeout header. Everything else is relayed as raw HTTP/2.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** Largest request message the shim buffers for an intercepted call (CRI allows 16 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const PREFIX = 5;

/** A body of one framed message at the limit; anything longer is over it. */
export const MAX_FRAMED_BYTES = PREFIX + MAX_MESSAGE_BYTES;

/** One length-prefixed gRPC message. */
export function frame(message: Uint8Array, compressed = false): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX);
  return out;
}

/** Splits a body holding exactly one message; undefined when it holds anything else. */
export function unframe(body: Buffer): { compressed: boolean; message: Buffer } | undefined {
  if (body.length < PREFIX) return undefined;
  const length = body.readUInt32BE(1);
  if (body.length !== PREFIX + length) return undefined;
  return { compressed: body[0] === 1, message: body.subarray(PREFIX) };
}

/** The declared length of the first message, once its prefix has arrived. */
export function declaredLength(head: Buffer): number | undefined {
  return head.length >= PREFIX ? head.readUInt32BE(1) : undefined;
}

/** A trailers-only response: the whole answer in one HEADERS frame. */
export function trailersOnly(code: number, message: string): OutgoingHttpHeaders {
  return {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(code),
    'grpc-message': percentEncode(message),
  };
}

/**
 * grpc-message encoding (gRPC over HTTP/2): bytes outside printable ASCII, and '%', as %XX of
 * their UTF-8; everything else as it is (every gRPC client decodes exactly this).
 */
function percentEncode(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}

export function grpcStatus(trailers: IncomingHttpHeaders | undefined): number {
  const raw = trailers?.['grpc-status'];
  return raw === undefined ? Status.UNKNOWN : Number(raw);
}

export function grpcMessage(trailers: IncomingHttpHeaders | undefined): string {
  const raw = trailers?.['grpc-message'];
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("100m", "15S", ...) in milliseconds; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]! : undefined;
}

/** Larger units for longer deadlines: the value may have at most 8 digits. */
const TIMEOUT_UNITS: [string, number][] = [
  ['m', 1],
  ['S', 1000],
  ['M', 60_000],
  ['H', 3_600_000],
];
const MAX_TIMEOUT_VALUE = 99_999_999;

/** A deadline in milliseconds as grpc-timeout, in the finest unit that fits 8 digits (rounded up). */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  for (const [unit, size] of TIMEOUT_UNITS) {
    const value = Math.ceil(whole / size);
    if (value <= MAX_TIMEOUT_VALUE) return `${value}${unit}`;
  }
  return `${MAX_TIMEOUT_VALUE}H`;
}
