// A raw HTTP/2 client for the tests: it writes every frame itself, so a test chooses what a
// real client may send and node's own client never would (a socket path as :authority, no
// :authority at all, Huffman or plain literals, indexing, padding, priority, blocks split over
// CONTINUATION frames, table size updates), and sees every frame that comes back.

import net from 'node:net';
import protobuf from 'protobufjs/minimal.js';
import { once } from 'node:events';
import { CLIENT_PREFACE, Flag, FrameReader, FrameType, frameHeader, type Frame } from '../../src/h2/frames.js';
import { HpackDecoder, type HeaderField } from '../../src/h2/hpack.js';
import { HpackEncoder, type EncodeOptions } from './hpack-encoder.js';

export interface RequestOptions extends EncodeOptions {
  /** Splits the header block into HEADERS + CONTINUATION frames of at most this many octets. */
  split?: number;
  /** Pads the HEADERS frame with this many octets. */
  padding?: number;
  /** Sets the PRIORITY flag with a dependency on stream 0, weight 16. */
  priority?: boolean;
  /** The request body, sent in DATA frames of at most 16384 octets. */
  body?: Buffer;
  /** Trailers sent after the body, ending the stream. */
  trailers?: [string, string][];
  /** Leaves the stream open after the headers and body (a request that never completes). */
  keepOpen?: boolean;
}

export interface StreamResult {
  headers: HeaderField[][];
  data: Buffer;
  /** RST_STREAM error code, if the server reset the stream. */
  reset?: number;
}

export class RawH2Client {
  private readonly reader = new FrameReader(1 << 24);
  private readonly decoder = new HpackDecoder(4096, 1 << 20);
  readonly encoder: HpackEncoder;
  private nextStreamId = 1;
  private readonly streams = new Map<number, StreamResult & { done: boolean }>();
  readonly frames: Frame[] = [];
  goaway: { lastStreamId: number; code: number } | undefined;
  private serverSettings = false;
  closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly socket: net.Socket,
    tableSize: number,
  ) {
    this.encoder = new HpackEncoder(tableSize);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) this.onFrame(frame);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /**
   * Connects and sends the preface and an empty SETTINGS. With `awaitServerPreface`, resolves
   * only after the server's SETTINGS arrive, as grpc-go clients wait before their first request.
   */
  static async connect(
    path: string,
    options: { awaitServerPreface?: boolean; tableSize?: number } = {},
  ): Promise<RawH2Client> {
    const socket = net.connect(path);
    await once(socket, 'connect');
    const client = new RawH2Client(socket, options.tableSize ?? 4096);
    socket.write(Buffer.concat([CLIENT_PREFACE, frameHeader(0, FrameType.SETTINGS, 0, 0)]));
    if (options.awaitServerPreface ?? true) await client.until(() => client.serverSettings, 'server SETTINGS');
    return client;
  }

  private onFrame(frame: Frame): void {
    this.frames.push(frame);
    if (frame.type === FrameType.SETTINGS && !(frame.flags & Flag.ACK)) {
      this.serverSettings = true;
      this.socket.write(frameHeader(0, FrameType.SETTINGS, Flag.ACK, 0));
    } else if (frame.type === FrameType.PING && !(frame.flags & Flag.ACK)) {
      this.socket.write(Buffer.concat([frameHeader(8, FrameType.PING, Flag.ACK, 0), frame.payload]));
    } else if (frame.type === FrameType.GOAWAY) {
      this.goaway = { lastStreamId: frame.payload.readUInt32BE(0), code: frame.payload.readUInt32BE(4) };
    } else if (frame.type === FrameType.HEADERS) {
      // The tests' servers send each block in one frame.
      const s = this.streams.get(frame.streamId);
      if (!s) return;
      s.headers.push(this.decoder.decode(frame.payload));
      if (frame.flags & Flag.END_STREAM) s.done = true;
    } else if (frame.type === FrameType.DATA) {
      const s = this.streams.get(frame.streamId);
      if (!s) return;
      s.data = Buffer.concat([s.data, frame.payload]);
      if (frame.flags & Flag.END_STREAM) s.done = true;
      if (frame.payload.length > 0) {
        const inc = Buffer.alloc(4);
        inc.writeUInt32BE(frame.payload.length);
        this.socket.write(
          Buffer.concat([
            frameHeader(4, FrameType.WINDOW_UPDATE, 0, 0),
            inc,
            frameHeader(4, FrameType.WINDOW_UPDATE, 0, frame.streamId),
            inc,
          ]),
        );
      }
    } else if (frame.type === FrameType.RST_STREAM) {
      const s = this.streams.get(frame.streamId);
      if (!s) return;
      s.reset = frame.payload.readUInt32BE(0);
      s.done = true;
    }
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves when `cond` holds, rejects when the connection closes first or after `timeoutMs`. */
  async until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (cond()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (cond()) done();
        else if (this.closed) done(new Error(`connection closed waiting for ${what}`));
      };
      const done = (e?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (e) reject(e);
        else resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Sends one request; returns its stream id. */
  request(fields: readonly (readonly [string, string])[], options: RequestOptions = {}): number {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    this.streams.set(id, { headers: [], data: Buffer.alloc(0), done: false });
    const { body, trailers, keepOpen } = options;
    this.socket.write(
      this.headersFrames(id, this.encoder.encode(fields, options), options, !body && !trailers && !keepOpen),
    );
    for (let pos = 0; body && pos < body.length; pos += 16384) {
      const part = body.subarray(pos, pos + 16384);
      const last = pos + part.length === body.length && !trailers && !keepOpen;
      this.socket.write(
        Buffer.concat([frameHeader(part.length, FrameType.DATA, last ? Flag.END_STREAM : 0, id), part]),
      );
    }
    if (trailers) this.socket.write(this.headersFrames(id, this.encoder.encode(trailers), {}, true));
    return id;
  }

  /** Writes raw bytes (frames a test builds itself). */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  headersFrames(id: number, block: Buffer, options: RequestOptions, endStream: boolean): Buffer {
    const split = options.split ?? block.length;
    const first = block.subarray(0, split);
    const pad = options.padding ?? 0;
    const prefix: Buffer[] = [];
    let flags = endStream ? Flag.END_STREAM : 0;
    if (options.padding !== undefined) {
      flags |= Flag.PADDED;
      prefix.push(Buffer.from([pad]));
    }
    if (options.priority) {
      flags |= Flag.PRIORITY;
      prefix.push(Buffer.from([0, 0, 0, 0, 15]));
    }
    if (first.length === block.length) flags |= Flag.END_HEADERS;
    const payload = Buffer.concat([...prefix, first, Buffer.alloc(pad)]);
    return Buffer.concat([
      frameHeader(payload.length, FrameType.HEADERS, flags, id),
      payload,
      ...continuationFrames(id, block, split),
    ]);
  }

  /** What stream `id` has received so far, without waiting. */
  stream(id: number): StreamResult | undefined {
    return this.streams.get(id);
  }

  async result(id: number, timeoutMs = 10_000): Promise<StreamResult> {
    const s = this.streams.get(id)!;
    await this.until(() => s.done, `stream ${id}`, timeoutMs);
    return s;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The rest of a header block after its first `split` bytes, as CONTINUATION frames of `split` bytes. */
export function continuationFrames(id: number, block: Buffer, split: number): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = split; pos < block.length; pos += split) {
    const part = block.subarray(pos, pos + split);
    out.push(
      frameHeader(part.length, FrameType.CONTINUATION, pos + split >= block.length ? Flag.END_HEADERS : 0, id),
      part,
    );
  }
  return out;
}

/** The value of a header in a decoded block. */
export function header(block: HeaderField[] | undefined, name: string): string | undefined {
  return block?.find((f) => f.name === name)?.value;
}

/**
 * A framed gRPC request whose message is { ImageSpec image = 1 { string image = 1 } } (PullImage, ImageStatus,
 * RemoveImage).
 */
export function imageRequest(image: string): Buffer {
  const spec = protobuf.Writer.create().uint32(0x0a).string(image).finish();
  const message = protobuf.Writer.create().uint32(0x0a).bytes(spec).finish();
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The request headers of a gRPC call. */
export function grpcRequest(
  path: string,
  authority: string | undefined,
  extra: [string, string][] = [],
): [string, string][] {
  const fields: [string, string][] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
  ];
  if (authority !== undefined) fields.push([':authority', authority]);
  return [...fields, ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra];
}
