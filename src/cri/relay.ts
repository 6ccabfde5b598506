// Raw HTTP/2 relay of one gRPC call to the runtime: headers, every DATA frame and trailers
// pass through without decoding, so any CRI method (unary or streaming, v1 or v1alpha2, known
// or added later) works, and the added latency is that of a byte pump.

import http2, {
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { formatGrpcTimeout, grpcStatus, MAX_FRAMED_BYTES, Status, trailersOnly } from './grpc.js';
import type { RuntimeConnection } from './upstream.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

// Connection-specific headers HTTP/2 forbids, plus ones the shim recomputes.
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
  'content-length',
]);

/** CRI methods whose answer is a long-lived stream: no default deadline is added to them. */
const STREAMING_METHODS = new Set(['GetContainerEvents']);

/** Copies gRPC metadata, dropping pseudo-headers other than those given and hop-by-hop ones. */
export function metadataOf(headers: IncomingHttpHeaders, keep: readonly string[] = []): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // for-in over the few headers of a call: this runs several times per intercepted call.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.startsWith(':') ? !keep.includes(name) : DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Request headers for the runtime: the caller's, with the shim's default deadline when it set none. */
export function requestHeaders(headers: IncomingHttpHeaders, defaultTimeoutMs: number): OutgoingHttpHeaders {
  const out = metadataOf(headers, [':method', ':path']);
  if (out['grpc-timeout'] === undefined && defaultTimeoutMs > 0) {
    const path = String(headers[':path'] ?? '');
    if (!STREAMING_METHODS.has(path.slice(path.lastIndexOf('/') + 1)))
      out['grpc-timeout'] = formatGrpcTimeout(defaultTimeoutMs);
  }
  return out;
}

/** The caller's stream is over: it left, or its answer has been given. */
export function callerGone(stream: ServerHttp2Stream): boolean {
  return stream.destroyed || stream.closed;
}

/** Ends a call with a gRPC error, or resets it when the answer has already begun. */
export function failCall(stream: ServerHttp2Stream, code: number, message: string): void {
  if (callerGone(stream)) return;
  if (!stream.headersSent) stream.respond(trailersOnly(code, message), { endStream: true });
  else stream.close(NGHTTP2_INTERNAL_ERROR);
}

function openUpstream(conn: RuntimeConnection, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
  return conn.session().request(headers, { endStream });
}

/** Relays a call as it comes: request body streamed up, answer streamed down. */
export function relay(
  conn: RuntimeConnection,
  stream: ServerHttp2Stream,
  headers: OutgoingHttpHeaders,
  onDone?: (status: number) => void,
): void {
  let up: ClientHttp2Stream;
  try {
    up = openUpstream(conn, headers, false);
  } catch (e) {
    onDone?.(Status.UNAVAILABLE);
    return failCall(stream, Status.UNAVAILABLE, `runtime unavailable: ${(e as Error).message}`);
  }
  let responded = false;
  let upstreamDone = false;
  let trailers: IncomingHttpHeaders | undefined;
  stream.pipe(up);
  up.once('end', () => (upstreamDone = true));
  up.on('response', (h, flags) => {
    responded = true;
    if (callerGone(stream)) return;
    if (flags & NGHTTP2_FLAG_END_STREAM) {
      upstreamDone = true;
      onDone?.(grpcStatus(h));
      stream.respond(metadataOf(h, [':status']), { endStream: true });
      return;
    }
    stream.respond(metadataOf(h, [':status']), { waitForTrailers: true });
    up.pipe(stream);
  });
  up.on('trailers', (t) => {
    trailers = t;
  });
  stream.on('wantTrailers', () => {
    onDone?.(grpcStatus(trailers));
    stream.sendTrailers(relayedTrailers(trailers));
  });
  up.on('error', () => {});
  up.on('close', () => {
    if (!responded) {
      onDone?.(Status.UNAVAILABLE);
      failCall(stream, Status.UNAVAILABLE, `runtime unavailable (stream reset ${up.rstCode})`);
    } else if (up.rstCode !== NGHTTP2_NO_ERROR && !stream.closed) {
      stream.close(up.rstCode ?? NGHTTP2_INTERNAL_ERROR);
    }
  });
  stream.on('error', () => {});
  stream.on('close', () => {
    // Only a caller that left early cancels the runtime's side; a finished call has nothing to cancel.
    if (!upstreamDone && !up.closed) up.close(NGHTTP2_CANCEL);
  });
}

/** The trailers a streamed answer ends with: the runtime's own, or an error when it sent none. */
function relayedTrailers(trailers: IncomingHttpHeaders | undefined): OutgoingHttpHeaders {
  return trailers
    ? metadataOf(trailers)
    : { 'grpc-status': String(Status.INTERNAL), 'grpc-message': 'runtime sent no status' };
}

export interface UnaryResult {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** undefined for a trailers-only answer (the status is then in `headers`). */
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly status: number;
  /** The answer went on to the caller as it came (see PassOn); `body` is then empty. */
  readonly forwarded?: boolean;
}

/**
 * Sends the runtime's answer on to `stream` as it arrives, as the relay does, instead of
 * buffering it, once its first bytes (a message's 5-byte prefix and first field tag) show
 * `when` is true of them: the caller then has its answer as soon as the runtime gives it.
 */
export interface PassOn {
  readonly stream: ServerHttp2Stream;
  readonly when: (head: Buffer) => boolean;
}

/** Bytes of an answer enough to judge it: the gRPC prefix and the first field's tag. */
const HEAD_BYTES = 6;

/**
 * Opens a unary call to the runtime whose answer is buffered; the request is written to `up`
 * by the caller of this. Cancelled when `until` fires first: the caller's stream closing (an
 * intercepted call whose caller left) or a signal aborting. `answer` rejects on transport
 * failure. Throws when there is no runtime connection. With `passOn`, an answer it picks out
 * goes straight to the caller and `answer` resolves once the caller has it all.
 */
export function openUnary(
  conn: RuntimeConnection,
  headers: OutgoingHttpHeaders,
  until: ServerHttp2Stream | AbortSignal,
  passOn?: PassOn,
): { up: ClientHttp2Stream; answer: Promise<UnaryResult> } {
  const up = openUpstream(conn, headers, false);
  const answer = new Promise<UnaryResult>((resolve, reject) => {
    const stopWatching = onCancel(until, () => up.close(NGHTTP2_CANCEL));
    let responseHeaders: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let forwarding = false;
    up.on('response', (h) => {
      responseHeaders = h;
    });
    /**
     * From here on the answer flows to the caller as the relay's does: the runtime's trailers
     * follow its last byte; a runtime reset resets the caller's stream; a caller that leaves
     * cancels the runtime's side (through `until`). Settles when the caller's stream closes.
     */
    const forward = (to: ServerHttp2Stream) => {
      forwarding = true;
      to.on('error', () => {}); // a reset passed on below is reported through 'close'
      to.respond(metadataOf(responseHeaders!, [':status']), { waitForTrailers: true });
      to.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      chunks.length = 0;
      up.once('end', () => {
        stopWatching(); // the runtime's side is complete: nothing left to cancel
        to.end();
      });
      to.once('wantTrailers', () => to.sendTrailers(relayedTrailers(trailers)));
      up.once('close', () => {
        if (!trailers && !to.closed) to.close(up.rstCode || NGHTTP2_INTERNAL_ERROR);
      });
      to.once('close', () => {
        stopWatching();
        const status = trailers && to.rstCode === NGHTTP2_NO_ERROR ? grpcStatus(trailers) : Status.CANCELLED;
        resolve({ headers: responseHeaders!, body: Buffer.alloc(0), trailers, status, forwarded: true });
      });
    };
    up.on('data', (chunk: Buffer) => {
      if (forwarding) {
        passOn!.stream.write(chunk);
        return;
      }
      size += chunk.length;
      if (size > MAX_FRAMED_BYTES) up.close(NGHTTP2_CANCEL);
      else chunks.push(chunk);
      // Judged once, when the head is complete.
      if (passOn && size >= HEAD_BYTES && size - chunk.length < HEAD_BYTES && !callerGone(passOn.stream)) {
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
        if (passOn.when(head)) forward(passOn.stream);
      }
    });
    up.on('error', () => {});
    let settled = false;
    const settle = () => {
      if (settled || forwarding) return;
      settled = true;
      stopWatching();
      if (!responseHeaders) return reject(new Error(`runtime unavailable (stream reset ${up.rstCode})`));
      if (size > MAX_FRAMED_BYTES) return reject(new Error('runtime answer larger than the message limit'));
      const status = grpcStatus(trailers ?? responseHeaders);
      resolve({
        headers: responseHeaders,
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
        trailers,
        status,
      });
    };
    // Trailers end the answer (DATA frames come before them): with nothing left unread, it is
    // complete now, a tick or two before 'end'. 'close' covers resets.
    up.on('trailers', (t) => {
      trailers = t;
      if (up.readableLength === 0) settle();
    });
    up.on('end', settle);
    up.on('close', settle);
  });
  return { up, answer };
}

/** One buffered unary call to the runtime with a request already in hand (see openUnary). */
export function callUnary(
  conn: RuntimeConnection,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  until: ServerHttp2Stream | AbortSignal,
): Promise<UnaryResult> {
  try {
    const { up, answer } = openUnary(conn, headers, until);
    up.end(body);
    return answer;
  } catch (e) {
    return Promise.reject(e);
  }
}

/** One unary call the shim itself makes to the runtime (not a caller's), bounded by `timeoutMs`. */
export function callRuntime(
  conn: RuntimeConnection,
  path: string,
  body: Buffer,
  timeoutMs: number,
  extraHeaders: OutgoingHttpHeaders = {},
): Promise<UnaryResult> {
  const headers: OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': formatGrpcTimeout(timeoutMs),
    ...extraHeaders,
  };
  return callUnary(conn, headers, body, AbortSignal.timeout(timeoutMs));
}

// A stream listener rather than an AbortController per call: the intercepted path is hot, and
// aborting a controller on every normal close builds a DOMException each time.
function onCancel(until: ServerHttp2Stream | AbortSignal, cancel: () => void): () => void {
  if (until instanceof AbortSignal) {
    until.addEventListener('abort', cancel, { once: true });
    return () => until.removeEventListener('abort', cancel);
  }
  until.once('close', cancel);
  return () => until.off('close', cancel);
}

/** Sends a buffered runtime answer to the caller exactly as the runtime gave it. */
export function replay(stream: ServerHttp2Stream, result: UnaryResult): void {
  if (callerGone(stream)) return;
  if (!result.trailers) {
    stream.respond(metadataOf(result.headers, [':status']), { endStream: true });
    return;
  }
  const trailers = metadataOf(result.trailers);
  stream.respond(metadataOf(result.headers, [':status']), { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  stream.end(result.body);
}
