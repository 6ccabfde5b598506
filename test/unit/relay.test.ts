import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { frame, Status } from '../../src/cri/grpc.js';
import { callUnary, metadataOf, openUnary, type UnaryResult } from '../../src/cri/relay.js';
import { RuntimeConnection } from '../../src/cri/upstream.js';
import { tempDir, waitFor } from '../support/procs.js';

const listen = (server: http2.Http2Server, path: string) => new Promise<void>((r) => server.listen(path, r));
const closeServer = (server: http2.Http2Server) => new Promise<void>((r) => server.close(() => r()));
const request = {
  ':method': 'POST',
  ':path': '/runtime.v1.ImageService/ImageStatus',
  'content-type': 'application/grpc',
  te: 'trailers',
};

type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/**
 * A runtime and the shim's side in front of it, on unix sockets, for one describe block: the
 * front's handler calls the runtime through `conn`. Listening before its tests, closed after.
 */
function runtimeBehindFront(
  name: string,
  onRuntime: StreamHandler,
  onFront: (conn: RuntimeConnection) => StreamHandler,
) {
  const dir = tempDir(name);
  const runtime = http2.createServer();
  const front = http2.createServer();
  const runtimeSocket = join(dir.path, 'runtime.sock');
  const frontSocket = join(dir.path, 'front.sock');
  const conn = new RuntimeConnection(runtimeSocket);
  const sessions = new Set<http2.ServerHttp2Session>();
  before(async () => {
    for (const server of [runtime, front]) server.on('session', (s) => sessions.add(s));
    runtime.on('stream', onRuntime);
    front.on('stream', onFront(conn));
    await listen(runtime, runtimeSocket);
    await listen(front, frontSocket);
  });
  after(async () => {
    conn.close();
    for (const s of sessions) s.destroy();
    await Promise.all([closeServer(runtime), closeServer(front)]);
    dir.remove();
  });
  return { conn, frontSocket };
}

describe('buffered calls to the runtime (callUnary)', () => {
  /** The reset code of each runtime-side stream, as it closes. */
  const runtimeClosed: number[] = [];

  const closedAfter = (count: number) =>
    waitFor('the runtime side of the call to close', () => runtimeClosed.length > count, 5000);

  const { conn, frontSocket } = runtimeBehindFront(
    'relay',
    // A runtime that answers "ok" to a body of "answer" and never answers anything else.
    (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (Buffer.concat(chunks).subarray(5).toString() !== 'answer') return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(frame(Buffer.from('ok')));
      });
      stream.on('close', () => runtimeClosed.push(stream.rstCode ?? -1));
    },
    // The shim's side: each call it takes is made to the runtime on the caller's behalf.
    (conn) => (stream, headers) => {
      const body = Buffer.from(String(headers['x-body'] ?? ''));
      callUnary(conn, request, frame(body), stream).then(
        (r) => {
          stream.respond({ ':status': 200, 'x-upstream-status': String(r.status) }, { endStream: true });
        },
        () => {},
      );
    },
  );

  it('returns the runtime answer with its status', async () => {
    const client = http2.connect('http://localhost', { createConnection: () => net.connect(frontSocket) });
    try {
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const s = client.request({ ':path': '/x', 'x-body': 'answer' }, { endStream: true });
        s.on('response', resolve);
        s.on('error', reject);
        s.resume();
      });
      assert.equal(headers['x-upstream-status'], String(Status.OK));
    } finally {
      client.close();
    }
  });

  it('cancels the runtime side when the caller leaves first', async () => {
    const before = runtimeClosed.length;
    const client = http2.connect('http://localhost', { createConnection: () => net.connect(frontSocket) });
    try {
      const s = client.request({ ':path': '/x', 'x-body': 'hang' }, { endStream: true });
      s.on('error', () => {});
      // Give the call time to reach the runtime, then leave.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(runtimeClosed.length, before, 'the runtime call is still open while the caller waits');
      s.close(http2.constants.NGHTTP2_CANCEL);
      await closedAfter(before);
      assert.equal(runtimeClosed[before], http2.constants.NGHTTP2_CANCEL);
    } finally {
      client.close();
    }
  });

  it('cancels the runtime side when a signal aborts', async () => {
    const before = runtimeClosed.length;
    await assert.rejects(callUnary(conn, request, frame(Buffer.from('hang')), AbortSignal.timeout(100)));
    await closedAfter(before);
    assert.equal(runtimeClosed[before], http2.constants.NGHTTP2_CANCEL);
  });
});

describe('answers passed on as they arrive (openUnary with passOn)', { timeout: 15_000 }, () => {
  /** What each call's openUnary resolved with, in order. */
  const results: UnaryResult[] = [];
  const runtimeClosed: number[] = [];
  /** Set by the test when the caller has seen the first bytes of the answer. */
  let callerHasHead = false;
  /** Whether the caller had the head before the runtime sent the rest of a "known" answer. */
  let headBeforeRest: boolean | undefined;
  // An ImageStatusResponse holding an Image { id = "sha256:…" }, and one holding nothing.
  const image = Buffer.concat([Buffer.from([0x0a, 12, 0x0a, 10]), Buffer.from('sha256:abc')]);
  const known = frame(image);

  const { frontSocket } = runtimeBehindFront(
    'pass-on',
    // x-answer: "known" (sent in two writes, the second only once the caller has the first),
    // "unknown" (an empty message), "reset" (half an answer, then RST_STREAM), "stall" (half, then nothing).
    (stream, headers) => {
      stream.on('close', () => runtimeClosed.push(stream.rstCode ?? -1));
      stream.on('error', () => {});
      stream.resume();
      const kind = String(headers['x-answer']);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      if (kind === 'unknown') return stream.end(frame(Buffer.alloc(0)));
      stream.write(known.subarray(0, 8));
      if (kind === 'reset') return setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 100);
      if (kind === 'stall') return;
      void waitFor('the caller to have the head', () => callerHasHead, 2000)
        .catch(() => {})
        .then(() => {
          headBeforeRest = callerHasHead;
          stream.end(known.subarray(8));
        });
    },
    (conn) => (stream, headers) => {
      const up = { ...request, 'x-answer': String(headers['x-answer']) };
      const call = openUnary(conn, up, stream, { stream, when: (head) => head[5] === 0x0a });
      call.up.end(frame(Buffer.alloc(0)));
      call.answer.then(
        (r) => {
          results.push(r);
          if (!r.forwarded) stream.respond({ ':status': 200, 'x-buffered': 'yes' }, { endStream: true });
        },
        () => {},
      );
    },
  );

  /** One call through the front: what the caller received, and how its stream ended. */
  function call(answer: string, leaveAfterHead = false) {
    const client = http2.connect('http://localhost', { createConnection: () => net.connect(frontSocket) });
    return new Promise<{
      headers: http2.IncomingHttpHeaders;
      body: Buffer;
      trailers?: http2.IncomingHttpHeaders;
      rst: number;
    }>((resolve) => {
      const s = client.request({ ':path': '/x', 'x-answer': answer }, { endStream: true });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      s.on('response', (h) => (headers = h));
      s.on('trailers', (t) => (trailers = t));
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        callerHasHead = true;
        if (leaveAfterHead) s.close(http2.constants.NGHTTP2_CANCEL);
      });
      s.on('error', () => {});
      s.on('close', () => {
        client.close();
        resolve({ headers, body: Buffer.concat(chunks), trailers, rst: s.rstCode ?? -1 });
      });
    });
  }

  it('sends an answer that starts with an Image on to the caller before the runtime has finished it', async () => {
    callerHasHead = false;
    const got = await call('known');
    assert.equal(headBeforeRest, true, 'the caller had the first bytes while the runtime still held the rest');
    assert.deepEqual(got.body, known, 'byte for byte');
    assert.equal(got.trailers?.['grpc-status'], '0', "the runtime's trailers");
    await waitFor('settled', () => results.length === 1, 2000);
    assert.equal(results[0]!.forwarded, true);
    assert.equal(results[0]!.status, Status.OK);
  });

  it('buffers an answer that does not', async () => {
    const got = await call('unknown');
    assert.equal(got.headers['x-buffered'], 'yes');
    await waitFor('settled', () => results.length === 2, 2000);
    assert.equal(results[1]!.forwarded, undefined);
    assert.deepEqual(results[1]!.body, frame(Buffer.alloc(0)));
  });

  it('resets the caller when the runtime resets mid-answer, and settles', async () => {
    const got = await call('reset');
    assert.notEqual(got.rst, http2.constants.NGHTTP2_NO_ERROR, 'the caller sees the reset, not a short answer');
    assert.equal(got.trailers, undefined);
    await waitFor('settled', () => results.length === 3, 2000);
    assert.equal(results[2]!.status, Status.CANCELLED);
  });

  it("cancels the runtime's side when the caller leaves mid-answer, and settles", async () => {
    const before = runtimeClosed.length;
    await call('stall', true);
    await waitFor('settled', () => results.length === 4, 2000);
    assert.equal(results[3]!.forwarded, true);
    await waitFor('the runtime side to close', () => runtimeClosed.length > before, 2000);
    assert.equal(runtimeClosed.at(-1), http2.constants.NGHTTP2_CANCEL);
  });
});

describe('metadata copy', () => {
  it('keeps gRPC metadata and the pseudo-headers asked for, drops hop-by-hop ones', () => {
    const out = metadataOf(
      {
        ':path': '/a',
        ':authority': 'x',
        'grpc-timeout': '5S',
        connection: 'keep-alive',
        'x-trace': 'id',
      } as http2.IncomingHttpHeaders,
      [':path'],
    );
    assert.deepEqual(out, { ':path': '/a', 'grpc-timeout': '5S', 'x-trace': 'id' });
  });
});
