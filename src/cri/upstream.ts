// The HTTP/2 connection to the container runtime's socket. One session is shared by every
// relayed call; when the runtime goes away the session is dropped and the next call dials
// again, so a runtime restart needs no shim restart.

import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../log.js';
import { RuntimeSocketError } from '../errors.js';

/**
 * HTTP/2 settings of both the runtime session and the client server. The header list stays at
 * 64 KiB: nghttp2 cannot decode a single header over 64 KiB (containerd's errors quote the
 * registry's answer, and may be larger), and would end the whole runtime connection on one;
 * told this limit, the runtime resets that one stream instead, which a pull treats as a failed
 * attempt (the next registry is tried).
 */
export const SESSION_SETTINGS: http2.Settings = {
  initialWindowSize: 4 * 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
};
/** Node's default (10 MB) is too small for big ListImages answers in flight at once. */
export const MAX_SESSION_MEMORY_MB = 256;

export class RuntimeConnection {
  private current: ClientHttp2Session | undefined;
  private closed = false;

  constructor(readonly socketPath: string) {}

  /** The live session, dialling a new one when there is none. */
  session(): ClientHttp2Session {
    if (this.closed) throw new Error('runtime connection closed');
    const s = this.current;
    if (s && !s.closed && !s.destroyed) return s;
    return this.dial();
  }

  /** True when a session is up; otherwise starts dialling so the next ask may say yes. */
  connected(): boolean {
    const s = this.current;
    if (s && !s.closed && !s.destroyed) return !s.connecting;
    if (!this.closed) this.dial();
    return false;
  }

  /** Resolves once the runtime accepts an HTTP/2 connection, or rejects after `timeoutMs`. */
  async waitReady(timeoutMs: number, onWait?: () => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let warned = false;
    for (;;) {
      if (await this.tryConnect()) return;
      if (Date.now() >= deadline)
        throw new RuntimeSocketError(`runtime socket ${this.socketPath} not ready after ${timeoutMs}ms`);
      if (!warned) {
        onWait?.();
        warned = true;
      }
      await sleep(200);
    }
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }

  /** Whether the runtime accepts a connection now. */
  tryConnect(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = this.session();
      if (!s.connecting) return resolve(true);
      const ok = () => {
        s.off('close', fail);
        resolve(true);
      };
      const fail = () => {
        s.off('connect', ok);
        resolve(false);
      };
      s.once('connect', ok);
      s.once('close', fail);
    });
  }

  private dial(): ClientHttp2Session {
    const s = http2.connect('http://localhost', {
      createConnection: () => net.connect(this.socketPath),
      settings: SESSION_SETTINGS,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    s.on('error', (err) => log.debug(`runtime connection error: ${err.message}`));
    s.on('goaway', () => {
      if (this.current === s) this.current = undefined;
    });
    s.on('close', () => {
      if (this.current === s) this.current = undefined;
    });
    // Calls in flight keep the process alive, not the idle connection.
    s.unref();
    this.current = s;
    return s;
  }
}
