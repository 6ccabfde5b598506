// Hands each accepted connection to node:http2. A client whose first request carries an
// `:authority` node:http2 accepts gets the socket itself: after the first few frames, nothing
// stands between it and nghttp2. Any other client (kubelet and crictl up to 1.30 send the socket
// path) gets the same server through an AuthorityFilter on its client-to-server bytes.
//
// Reading the first request needs the server's preface first: grpc-go clients send nothing
// past their SETTINGS until the server's SETTINGS arrives. So the front sends an empty
// SETTINGS frame at once and removes the client's ACK of it; node:http2 then sends its own
// SETTINGS, which the client acknowledges to it as usual.

import type { Http2Server } from 'node:http2';
import type { Socket } from 'node:net';
import { acceptedAuthority } from './authority.js';
import { AuthorityFilter, type FilterLimits } from './authority-filter.js';
import { FilteredConnection } from './filtered-connection.js';
import {
  CLIENT_PREFACE,
  ConnectionError,
  EMPTY_SETTINGS,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  goaway,
  HeaderBlockAssembler,
  type Frame,
} from './frames.js';
import { HpackDecoder, HpackError, type HeaderField } from './hpack.js';

export interface HandoffOptions extends FilterLimits {
  /** How long a client may take to send the 24-octet HTTP/2 preface (then it is closed). */
  readonly prefaceTimeoutMs: number;
  /** The client's preface has arrived (called once; not for a connection closed before it). */
  readonly onPreface?: () => void;
  /** How long a client may take to acknowledge the front's SETTINGS (RFC 9113 §6.5.3). */
  readonly settingsTimeoutMs: number;
  /** How long a connection may stay open without its first request (then it is closed). */
  readonly idleTimeoutMs: () => number;
  /** A connection refused at the HTTP/2 layer, with the reason (called once per connection). */
  readonly onRefused: (reason: string) => void;
  /** A connection handed to node:http2 as it is. */
  readonly onDirect: () => void;
  /** A connection whose requests' refused `:authority` is replaced, with the first one (once per connection). */
  readonly onFiltered: (original: string | undefined) => void;
}

/** Frames a client may send before its first request without waiting for an answer. */
const QUIET_FRAMES = new Set<number>([
  FrameType.SETTINGS,
  FrameType.WINDOW_UPDATE,
  FrameType.PRIORITY,
  FrameType.HEADERS,
  FrameType.CONTINUATION,
]);

/** Bytes read ahead of the decision before the connection is simply filtered. */
const MAX_READ_AHEAD = 256 * 1024;

export function handOff(socket: Socket, server: Http2Server, options: HandoffOptions): void {
  new ConnectionStart(socket, server, options).begin();
}

/** Reads a connection's first frames and decides how it reaches node:http2. */
class ConnectionStart {
  private head = Buffer.alloc(0);
  private prefaceDone = false;
  private readonly reader: FrameReader;
  private readonly blocks: HeaderBlockAssembler;
  /** Frames read so far, minus the client's ACK of the front's SETTINGS. */
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private acked = false;
  private authorityAccepted: boolean | undefined;
  /** The SETTINGS ACK's deadline. */
  private timer: NodeJS.Timeout | undefined;
  /** The first request's deadline. */
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly onData = (chunk: Buffer) => this.read(chunk);

  constructor(
    private readonly socket: Socket,
    private readonly server: Http2Server,
    private readonly options: HandoffOptions,
  ) {
    this.reader = new FrameReader(options.maxFrameSize);
    this.blocks = new HeaderBlockAssembler(options.maxHeaderListSize);
  }

  begin(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', () => {});
    this.socket.once('close', () => this.clearTimers());
    // Every gRPC client writes its preface as soon as it connects: one that says nothing is not one.
    this.timer = setTimeout(() => {
      this.options.onRefused(`no HTTP/2 preface within ${this.options.prefaceTimeoutMs} ms`);
      this.stopReading();
      this.socket.destroy();
    }, this.options.prefaceTimeoutMs);
    this.timer.unref();
    this.idleTimer = setTimeout(() => this.socket.destroy(), this.options.idleTimeoutMs());
    this.idleTimer.unref();
  }

  private clearTimers(): void {
    clearTimeout(this.timer);
    clearTimeout(this.idleTimer);
  }

  private read(chunk: Buffer): void {
    try {
      if (!this.prefaceDone) {
        this.head = Buffer.concat([this.head, chunk]);
        const n = Math.min(this.head.length, CLIENT_PREFACE.length);
        if (!this.head.subarray(0, n).equals(CLIENT_PREFACE.subarray(0, n))) {
          this.options.onRefused('not an HTTP/2 client preface');
          this.direct([this.head]);
          return;
        }
        if (this.head.length < CLIENT_PREFACE.length) return;
        this.prefaceDone = true;
        clearTimeout(this.timer);
        this.options.onPreface?.();
        this.socket.write(EMPTY_SETTINGS);
        this.timer = setTimeout(
          () => this.fail(new ConnectionError(ErrorCode.SETTINGS_TIMEOUT, 'no SETTINGS ACK')),
          this.options.settingsTimeoutMs,
        );
        this.timer.unref();
        chunk = this.head.subarray(CLIENT_PREFACE.length);
        this.head = Buffer.alloc(0);
      }
      const frames = this.reader.push(chunk);
      for (let i = 0; i < frames.length; i++) {
        const way = this.take(frames[i]!);
        if (!way) continue;
        const rest = [...frames.slice(i + 1).map((f) => f.raw), this.reader.rest()];
        if (way === 'direct') this.direct([CLIENT_PREFACE, ...this.kept, ...rest]);
        else this.filtered(rest);
        return;
      }
      if (this.keptBytes + this.reader.buffered > MAX_READ_AHEAD) this.filtered([this.reader.rest()]);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Looks at one frame; says which way the connection goes once that is known. */
  private take(frame: Frame): 'direct' | 'filtered' | undefined {
    if (!this.acked && frame.type === FrameType.SETTINGS && frame.flags & Flag.ACK) {
      this.acked = true;
      clearTimeout(this.timer);
    } else {
      this.kept.push(frame.raw);
      this.keptBytes += frame.raw.length;
    }
    if (this.authorityAccepted === undefined) {
      if (!QUIET_FRAMES.has(frame.type)) return 'filtered';
      const block = this.blocks.accept(frame);
      if (block) this.authorityAccepted = firstAuthorityAccepted(block.fragment, this.options);
    }
    if (this.authorityAccepted === false) return 'filtered';
    return this.authorityAccepted && this.acked ? 'direct' : undefined;
  }

  private stopReading(): void {
    this.clearTimers();
    this.socket.off('data', this.onData);
    this.socket.pause();
  }

  /** node:http2 reads the socket itself, starting with what was read ahead. */
  private direct(readAhead: Buffer[]): void {
    this.stopReading();
    this.options.onDirect();
    this.socket.unshift(Buffer.concat(readAhead));
    this.server.emit('connection', this.socket);
  }

  /**
   * node:http2 reads the client's bytes through an AuthorityFilter, from the first frame on;
   * `rest`: bytes read past the frame that decided it, not yet looked at.
   */
  private filtered(rest: Buffer[]): void {
    this.stopReading();
    const filter = new AuthorityFilter(this.options, this.options.onFiltered, !this.acked);
    const readAhead = Buffer.concat([...this.kept, ...rest]);
    const refuse = (e: ConnectionError, atFrameBoundary: boolean) =>
      this.refuse(e, filter.lastStreamId, atFrameBoundary);
    this.server.emit('connection', new FilteredConnection(this.socket, filter, refuse, CLIENT_PREFACE, readAhead));
  }

  private fail(e: unknown): void {
    if (!(e instanceof ConnectionError)) throw e;
    this.stopReading();
    this.refuse(e, 0, true);
  }

  /** Ends the connection with GOAWAY (when no frame of the server's is half written). */
  private refuse(e: ConnectionError, lastStreamId: number, sendGoaway: boolean): void {
    this.options.onRefused(e.message);
    if (sendGoaway && !this.socket.destroyed) {
      this.socket.write(goaway(lastStreamId, e.http2Code));
      this.socket.destroySoon();
    } else {
      this.socket.destroy();
    }
  }
}

/** Whether node:http2 would accept the `:authority` of a connection's first header block. */
function firstAuthorityAccepted(fragment: Buffer, limits: FilterLimits): boolean {
  let fields: HeaderField[];
  try {
    fields = new HpackDecoder(limits.headerTableSize, limits.maxHeaderListSize).decode(fragment);
  } catch (e) {
    if (e instanceof HpackError) return false; // the filter reports it as the connection error it is
    throw e;
  }
  const authorities = fields.filter((f) => f.name === ':authority');
  return authorities.length === 1 && acceptedAuthority(authorities[0]!.value);
}
