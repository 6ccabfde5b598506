// HTTP/2 framing (RFC 9113 §4, §6) as far as the shim's front reads it: splitting the client's
// byte stream into frames, putting a header block back together from HEADERS and CONTINUATION
// frames, and writing the few frames the front sends itself.

import { ShimError } from '../errors.js';

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE until a peer raises it (the shim's server never does). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  PROTOCOL_ERROR: 0x1,
  SETTINGS_TIMEOUT: 0x4,
  FRAME_SIZE_ERROR: 0x6,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** A fault that ends the connection (RFC 9113 §5.4.1): answered with GOAWAY carrying `http2Code`. */
export class ConnectionError extends ShimError {
  /** ERR_HTTP2_ and the name of the HTTP/2 error code, e.g. ERR_HTTP2_COMPRESSION_ERROR. */
  readonly code: string;
  constructor(
    readonly http2Code: number,
    message: string,
  ) {
    super(message);
    const name = Object.entries(ErrorCode).find(([, v]) => v === http2Code)?.[0] ?? `0x${http2Code.toString(16)}`;
    this.code = `ERR_HTTP2_${name}`;
    this.name = 'ConnectionError';
  }
}

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
  /** The whole frame as received, header included. */
  readonly raw: Buffer;
}

export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return h;
}

/** An empty SETTINGS frame: a server preface that leaves every setting at its default. */
export const EMPTY_SETTINGS = frameHeader(0, FrameType.SETTINGS, 0, 0);

export function goaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  return Buffer.concat([frameHeader(8, FrameType.GOAWAY, 0, 0), payload]);
}

/** Splits a byte stream into whole frames; a frame larger than `maxFrameSize` is a FRAME_SIZE_ERROR. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameSize: number) {}

  /** The frames completed by `chunk`. */
  push(chunk: Buffer): Frame[] {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    while (buf.length >= FRAME_HEADER_BYTES) {
      const length = buf.readUIntBE(0, 3);
      if (length > this.maxFrameSize)
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} octets (limit ${this.maxFrameSize})`);
      const end = FRAME_HEADER_BYTES + length;
      if (buf.length < end) break;
      const raw = buf.subarray(0, end);
      frames.push({
        type: raw[3]!,
        flags: raw[4]!,
        streamId: raw.readUInt32BE(5) & 0x7fffffff,
        payload: raw.subarray(FRAME_HEADER_BYTES),
        raw,
      });
      buf = buf.subarray(end);
    }
    // Copied so a kept remainder does not pin the whole chunk it came in.
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return frames;
  }

  /** Bytes held for a frame still incomplete. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Takes the bytes of the incomplete frame, for a reader that goes on elsewhere. */
  rest(): Buffer {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest;
  }
}

/** Follows frame boundaries in a byte stream written in chunks of any size. */
export class FrameBoundary {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private remaining = 0;

  /** True between frames: a frame of one's own may be written now. */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.remaining === 0;
  }

  advance(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - pos);
        this.remaining -= n;
        pos += n;
        continue;
      }
      const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + n);
      this.headerFill += n;
      pos += n;
      if (this.headerFill === FRAME_HEADER_BYTES) {
        this.remaining = this.header.readUIntBE(0, 3);
        this.headerFill = 0;
      }
    }
  }
}

/** A complete header block with what its HEADERS frame said besides. */
export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  /** The 5 octets of stream dependency and weight, when the PRIORITY flag was set. */
  readonly priority: Buffer | undefined;
  readonly fragment: Buffer;
}

/**
 * Puts header blocks back together (RFC 9113 §4.3, §6.2, §6.10): padding removed, priority
 * kept, CONTINUATION frames appended. Between a HEADERS frame without END_HEADERS and the
 * CONTINUATION that ends its block, any other frame is a PROTOCOL_ERROR.
 */
export class HeaderBlockAssembler {
  private open:
    | { streamId: number; endStream: boolean; priority: Buffer | undefined; parts: Buffer[]; size: number }
    | undefined;

  constructor(private readonly maxBlockBytes: number) {}

  /** True while a block awaits its CONTINUATION frames. */
  get inBlock(): boolean {
    return this.open !== undefined;
  }

  /** Checks that `frame` may come now; returns the block it completes, if any. */
  accept(frame: Frame): HeaderBlock | undefined {
    if (this.open && (frame.type !== FrameType.CONTINUATION || frame.streamId !== this.open.streamId)) {
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        `frame type ${frame.type} inside the header block of stream ${this.open.streamId}`,
      );
    }
    if (frame.type === FrameType.HEADERS) {
      if (frame.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
      const { priority, fragment } = headersPayload(frame);
      this.open = {
        streamId: frame.streamId,
        endStream: (frame.flags & Flag.END_STREAM) !== 0,
        priority,
        parts: [],
        size: 0,
      };
      return this.append(fragment, frame.flags);
    }
    if (frame.type === FrameType.CONTINUATION) {
      if (!this.open)
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${frame.streamId} without HEADERS`);
      return this.append(frame.payload, frame.flags);
    }
    return undefined;
  }

  private append(fragment: Buffer, flags: number): HeaderBlock | undefined {
    const open = this.open!;
    open.size += fragment.length;
    if (open.size > this.maxBlockBytes)
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${this.maxBlockBytes} octets`);
    open.parts.push(fragment);
    if ((flags & Flag.END_HEADERS) === 0) return undefined;
    this.open = undefined;
    const fragmentAll = open.parts.length === 1 ? open.parts[0]! : Buffer.concat(open.parts, open.size);
    return { streamId: open.streamId, endStream: open.endStream, priority: open.priority, fragment: fragmentAll };
  }
}

function headersPayload(frame: Frame): { priority: Buffer | undefined; fragment: Buffer } {
  let p = frame.payload;
  let padding = 0;
  if (frame.flags & Flag.PADDED) {
    if (p.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its pad length');
    padding = p[0]!;
    p = p.subarray(1);
  }
  let priority: Buffer | undefined;
  if (frame.flags & Flag.PRIORITY) {
    if (p.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
    priority = p.subarray(0, 5);
    p = p.subarray(5);
  }
  if (padding > p.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
  return { priority, fragment: p.subarray(0, p.length - padding) };
}

/** HEADERS (and CONTINUATION frames when the block exceeds `maxFrameSize`) carrying `block`. */
export function headersFrames(
  block: Buffer,
  streamId: number,
  endStream: boolean,
  priority: Buffer | undefined,
  maxFrameSize: number,
): Buffer[] {
  const out: Buffer[] = [];
  const first = priority ? maxFrameSize - priority.length : maxFrameSize;
  let pos = Math.min(block.length, first);
  const last = pos === block.length;
  const flags = (endStream ? Flag.END_STREAM : 0) | (priority ? Flag.PRIORITY : 0) | (last ? Flag.END_HEADERS : 0);
  out.push(frameHeader(pos + (priority?.length ?? 0), FrameType.HEADERS, flags, streamId));
  if (priority) out.push(priority);
  out.push(block.subarray(0, pos));
  while (pos < block.length) {
    const end = Math.min(block.length, pos + maxFrameSize);
    out.push(
      frameHeader(end - pos, FrameType.CONTINUATION, end === block.length ? Flag.END_HEADERS : 0, streamId),
      block.subarray(pos, end),
    );
    pos = end;
  }
  return out;
}
