// The shim's unix socket: an HTTP/2 (gRPC) server whose every call is relayed to the runtime,
// except the three ImageService methods that rewrite image references.

import http2, {
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_FRAME_SIZE } from '../h2/frames.js';
import { handOff } from '../h2/handoff.js';
import { log } from '../log.js';
import { parseGrpcTimeout, Status } from './grpc.js';
import { handleImageCall, handleImageStatus, type ImageCallEnv, type ImageMethod } from './images.js';
import {
  ByteBudget,
  MAX_ACTIVE_CALLS,
  MAX_CONNECTIONS,
  MAX_CONNECTIONS_BEFORE_PREFACE,
  MAX_HELD_REQUEST_BYTES,
  MAX_STREAMS_PER_CONNECTION,
  PREFACE_TIMEOUT_MS,
} from './limits.js';
import { failCall, relay, requestHeaders } from './relay.js';
import { readRequest } from './request-body.js';
import { listenOnSocketFile, removeOwnSocket, type SocketFile } from './socket-file.js';
import { MAX_SESSION_MEMORY_MB, SESSION_SETTINGS } from './upstream.js';

const INTERCEPTED = /^\/(runtime\.v1(?:alpha2)?\.ImageService)\/(PullImage|ImageStatus|RemoveImage)$/;

export type CallObserver = (method: string, status: number, ms: number) => void;

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

/** What clients may send the shim: the runtime session's settings, with a bound on streams. */
const SERVER_SETTINGS: http2.Settings = { ...SESSION_SETTINGS, maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION };

export class CriServer {
  /** Never listens itself: the socket server hands it each connection (see h2/handoff). */
  private readonly server: Http2Server;
  private readonly listener: net.Server;
  /** Per client connection: calls in flight, and the timer that closes it when there are none. */
  private readonly sessions = new Map<ServerHttp2Session, { calls: number; idle: NodeJS.Timeout | undefined }>();
  /** Request bytes held by intercepted calls, all connections together. */
  private readonly held = new ByteBudget(MAX_HELD_REQUEST_BYTES);
  private socketFile: SocketFile | undefined;
  private active = 0;
  /** Connections yet to send their preface, oldest first. */
  private readonly beforePreface = new Set<net.Socket>();

  constructor(private readonly options: CriServerOptions) {
    this.server = http2.createServer({ settings: SERVER_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    this.server.on('session', (session) => {
      this.sessions.set(session, { calls: 0, idle: undefined });
      this.armIdle(session);
      session.on('close', () => {
        clearTimeout(this.sessions.get(session)?.idle);
        this.sessions.delete(session);
      });
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
    this.listener = net.createServer((socket) => {
      this.awaitPreface(socket);
      handOff(socket, this.server, {
        prefaceTimeoutMs: PREFACE_TIMEOUT_MS,
        onPreface: () => this.beforePreface.delete(socket),
        headerTableSize: SERVER_SETTINGS.headerTableSize ?? 4096,
        maxFrameSize: SERVER_SETTINGS.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
        // Twice what the server accepts: a list just over it gets the server's own answer.
        maxHeaderListSize: 2 * SERVER_SETTINGS.maxHeaderListSize!,
        settingsTimeoutMs: SETTINGS_TIMEOUT_MS,
        idleTimeoutMs: () => options.settings().idleTimeoutMs,
        onRefused: (reason) => this.refused(reason),
        onDirect: () => observe('direct'),
        onFiltered: (original) => {
          observe('filtered');
          log.debug(
            `http2: client :authority ${original === undefined ? '(none)' : JSON.stringify(original.slice(0, 128))} ` +
              `is not a host name node:http2 accepts; its requests are served as "localhost"`,
          );
        },
      });
    });
    this.listener.maxConnections = MAX_CONNECTIONS;
    this.listener.on('drop', () => this.refused(`more than ${MAX_CONNECTIONS} client connections`));
  }

  /** Counts a new connection against the budget of those before their preface, closing the oldest beyond it. */
  private awaitPreface(socket: net.Socket): void {
    if (this.beforePreface.size >= MAX_CONNECTIONS_BEFORE_PREFACE) {
      const [oldest] = this.beforePreface;
      this.beforePreface.delete(oldest!);
      oldest!.destroy();
      this.refused(
        `more than ${MAX_CONNECTIONS_BEFORE_PREFACE} connections without an HTTP/2 preface; closed the oldest`,
      );
    }
    this.beforePreface.add(socket);
    socket.once('close', () => this.beforePreface.delete(socket));
  }

  private refused(reason: string): void {
    log.warn(`http2: connection refused: ${reason}`);
    this.options.onConnection?.('refused');
  }

  /** A connection with no call in flight for `idleTimeout` is closed (GOAWAY); clients redial. */
  private armIdle(session: ServerHttp2Session): void {
    const state = this.sessions.get(session);
    if (!state) return;
    clearTimeout(state.idle);
    state.idle =
      state.calls === 0
        ? setTimeout(() => this.closeIdle(session), this.options.settings().idleTimeoutMs).unref()
        : undefined;
  }

  private closeIdle(session: ServerHttp2Session): void {
    session.close();
    // A session nghttp2 has stopped reading never learns that its client left: end it outright.
    setTimeout(() => (this.sessions.get(session)?.calls ?? 0) === 0 && session.destroy(), 1000).unref();
  }

  async listen(): Promise<void> {
    this.socketFile = await listenOnSocketFile(this.listener, this.options.socketPath, this.options.runtimeSocketPath);
  }

  /** Stops taking calls, lets those in flight finish (at most `drainMs`), removes the socket it made. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const s of this.sessions.keys()) s.close();
    const deadline = Date.now() + drainMs;
    while (this.active > 0 && Date.now() < deadline) await sleep(20);
    for (const s of this.sessions.keys()) s.destroy();
    await closed;
    if (this.socketFile) await removeOwnSocket(this.socketFile);
  }

  private dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[':path'] ?? '');
    const started = performance.now();
    this.active++;
    const owner = stream.session as ServerHttp2Session;
    const session = this.sessions.get(owner);
    if (session) session.calls++;
    this.armIdle(owner);
    let settled = false;
    const finish = (status: number) => {
      if (settled) return;
      settled = true;
      this.options.onCall?.(path, status, performance.now() - started);
    };
    stream.once('close', () => {
      this.active--;
      if (session) session.calls--;
      this.armIdle(owner);
      finish(Status.CANCELLED);
    });
    if (this.active > MAX_ACTIVE_CALLS) {
      failCall(
        stream,
        Status.RESOURCE_EXHAUSTED,
        `image-cri-shim has ${MAX_ACTIVE_CALLS} calls in flight already; try again`,
      );
      return finish(Status.RESOURCE_EXHAUSTED);
    }
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
      handleImageStatus(this.options, stream, headers, service, this.held).then(finish, internalError);
      return;
    }
    readRequest(stream, this.held, parseGrpcTimeout(headers['grpc-timeout'])).then(
      (body) => {
        if (typeof body === 'number') return finish(body);
        handleImageCall(this.options, stream, headers, service, method, body).then(finish, internalError);
      },
      () => finish(Status.CANCELLED),
    );
  }
}
