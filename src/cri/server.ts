// The shim's unix socket: an HTTP/2 (gRPC) server whose every call is relayed to the runtime,
// except the three ImageService methods that rewrite image references.

import { chmod, chown, mkdir, stat, unlink } from 'node:fs/promises';
import http2, { type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_FRAME_SIZE } from '../h2/frames.js';
import { handOff } from '../h2/handoff.js';
import { log } from '../log.js';
import { declaredLength, MAX_FRAMED_BYTES, MAX_MESSAGE_BYTES, Status } from './grpc.js';
import { handleImageCall, handleImageStatus, type ImageCallEnv, type ImageMethod } from './images.js';
import { failCall, relay, requestHeaders } from './relay.js';
import { MAX_SESSION_MEMORY_MB, SESSION_SETTINGS } from './upstream.js';

const INTERCEPTED = /^\/(runtime\.v1(?:alpha2)?\.ImageService)\/(PullImage|ImageStatus|RemoveImage)$/;

export interface CallObserver {
  (method: string, status: number, ms: number): void;
}

/** How a connection reached the HTTP/2 server: as it came, through the authority filter, or not at all. */
export type ConnectionOutcome = 'direct' | 'filtered' | 'refused';

export interface CriServerOptions extends ImageCallEnv {
  readonly socketPath: string;
  /** The runtime socket whose owner and group the shim's socket copies. */
  readonly runtimeSocketPath: string;
  readonly onCall?: CallObserver;
  readonly onConnection?: (outcome: ConnectionOutcome) => void;
}

/** How long a client may take to acknowledge the shim's SETTINGS before it is cut off. */
const SETTINGS_TIMEOUT_MS = 10_000;

export class CriServer {
  /** Never listens itself: the socket server hands it each connection (see h2/handoff). */
  private readonly server: Http2Server;
  private readonly listener: net.Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private active = 0;

  constructor(private readonly options: CriServerOptions) {
    this.server = http2.createServer({ settings: SESSION_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      // One line per connection: a session that fails at the HTTP/2 layer fails once. A client
      // that drops its socket (ECONNRESET when crictl exits) is leaving, not being refused.
      session.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code?.startsWith('ERR_HTTP2')) this.refused(`HTTP/2 session error: ${e.message}`);
        else log.debug(`http2: client connection ended: ${e.message}`);
      });
      session.on('error', () => {});
    });
    this.server.on('stream', (stream, headers) => this.dispatch(stream, headers));
    const observe = options.onConnection ?? (() => {});
    this.listener = net.createServer((socket) =>
      handOff(socket, this.server, {
        headerTableSize: SESSION_SETTINGS.headerTableSize ?? 4096,
        maxFrameSize: SESSION_SETTINGS.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
        // Twice what the server accepts: a list just over it gets the server's own answer.
        maxHeaderListSize: 2 * (SESSION_SETTINGS.maxHeaderListSize ?? 64 * 1024),
        settingsTimeoutMs: SETTINGS_TIMEOUT_MS,
        onRefused: (reason) => this.refused(reason),
        onDirect: () => observe('direct'),
        onFiltered: (original) => {
          observe('filtered');
          log.debug(`http2: client :authority ${original === undefined ? '(none)' : JSON.stringify(original.slice(0, 128))} is not a host name node:http2 accepts; its requests are served as "localhost"`);
        },
      }),
    );
  }

  private refused(reason: string): void {
    log.warn(`http2: connection refused: ${reason}`);
    this.options.onConnection?.('refused');
  }

  async listen(): Promise<void> {
    const path = this.options.socketPath;
    await mkdir(dirname(path), { recursive: true, mode: 0o711 });
    await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(path, () => {
        this.listener.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o660);
    try {
      const owner = await stat(this.options.runtimeSocketPath);
      await chown(path, owner.uid, owner.gid);
    } catch (e) {
      log.warn(`cannot copy owner of ${this.options.runtimeSocketPath} to ${path}: ${(e as Error).message}`);
    }
  }

  /** Stops taking calls, lets those in flight finish (at most `drainMs`), removes the socket. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const deadline = Date.now() + drainMs;
    while (this.active > 0 && Date.now() < deadline) await sleep(20);
    for (const s of this.sessions) s.destroy();
    await closed;
    await unlink(this.options.socketPath).catch(() => {});
  }

  private dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[':path'] ?? '');
    const started = performance.now();
    this.active++;
    let settled = false;
    const finish = (status: number) => {
      if (settled) return;
      settled = true;
      this.options.onCall?.(path, status, performance.now() - started);
    };
    stream.once('close', () => {
      this.active--;
      finish(Status.CANCELLED);
    });
    const intercepted = INTERCEPTED.exec(path);
    if (!intercepted) {
      relay(this.options.conn, stream, requestHeaders(headers, this.options.settings().timeoutMs), finish);
      return;
    }
    const [, service, method] = intercepted as unknown as [string, string, ImageMethod];
    const internalError = (e: Error) => {
      log.error(`${path}: ${e.message}`);
      failCall(stream, Status.INTERNAL, 'image-cri-shim internal error');
      finish(Status.INTERNAL);
    };
    if (method === 'ImageStatus') {
      handleImageStatus(this.options, stream, headers, service).then(finish, internalError);
      return;
    }
    readBody(stream).then(
      (body) => {
        if (body === undefined) return finish(Status.RESOURCE_EXHAUSTED);
        handleImageCall(this.options, stream, headers, service, method, body).then(finish, internalError);
      },
      () => finish(Status.CANCELLED),
    );
  }
}

/**
 * Reads the request of a unary call: resolves as soon as its one message is complete (the
 * caller's END_STREAM may follow in a later frame; the relay would not wait for it either),
 * or at the end of the stream. Answers RESOURCE_EXHAUSTED and resolves undefined when the
 * message is over the limit, without reading the rest.
 */
function readBody(stream: ServerHttp2Stream): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Buffer | undefined) => {
      settled = true;
      stream.removeAllListeners('data');
      resolve(body);
    };
    const tooBig = (length: number) => {
      failCall(stream, Status.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${length} vs. ${MAX_MESSAGE_BYTES})`);
      settle(undefined);
    };
    let declared: number | undefined;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (declared === undefined && size >= 5) {
        declared = declaredLength(chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
        if (declared !== undefined && declared > MAX_MESSAGE_BYTES) return tooBig(declared);
      }
      if (size > MAX_FRAMED_BYTES) return tooBig(size - 5);
      if (declared !== undefined && size === declared + 5) settle(chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
    });
    stream.once('end', () => settled || settle(Buffer.concat(chunks, size)));
    stream.on('error', (e) => settled || reject(e));
    // Checked before anything is built: this runs on every call's close, almost always after the body.
    stream.once('close', () => settled || reject(new Error('closed')));
  });
}

/** A socket file nobody listens on is left from a crash: remove it. A live one is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    return;
  }
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`socket already in use: ${path}`);
  await unlink(path);
}
