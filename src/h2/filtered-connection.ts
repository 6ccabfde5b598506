// The socket node:http2 sees for a filtered client: a Duplex whose readable side is the
// client's bytes after the AuthorityFilter, and whose writable side goes to the client as it is.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { AuthorityFilter } from './authority-filter.js';
import { ConnectionError, FrameBoundary } from './frames.js';

export class FilteredConnection extends Duplex {
  private readonly serverFrames = new FrameBoundary();
  private broken = false;

  /**
   * `readAhead`: the client's bytes already read, preface included, of which `filtered` go
   * through the filter. `onError(e, atFrameBoundary)` answers a ConnectionError; the server's
   * writes are dropped from then on.
   */
  constructor(
    private readonly socket: Socket,
    private readonly authorityFilter: AuthorityFilter,
    private readonly onError: (e: ConnectionError, atFrameBoundary: boolean) => void,
    preface: Buffer,
    readAhead: Buffer,
  ) {
    super({ allowHalfOpen: false });
    this.push(preface);
    this.forward(readAhead);
    socket.on('data', (chunk: Buffer) => this.forward(chunk));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
    socket.on('drain', () => this.emit('socketDrain'));
  }

  private forward(chunk: Buffer): void {
    if (this.broken) return;
    let out: Buffer[];
    try {
      out = this.authorityFilter.push(chunk);
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
      this.broken = true;
      this.onError(e, this.serverFrames.atBoundary);
      this.destroy();
      return;
    }
    let more = true;
    for (const b of out) more = this.push(b);
    if (!more) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.broken) return callback();
    this.serverFrames.advance(chunk);
    if (this.socket.write(chunk)) callback();
    else this.once('socketDrain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.broken) this.socket.destroy();
    callback(error);
  }
}
