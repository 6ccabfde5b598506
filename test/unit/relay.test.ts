import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { frame, Status } from '../../src/cri/grpc.js';
import { callUnary, metadataOf } from '../../src/cri/relay.js';
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

describe('buffered calls to the runtime (callUnary)', () => {
  const dir = tempDir('relay');
  const runtime = http2.createServer();
  const front = http2.createServer();
  const runtimeSocket = join(dir.path, 'runtime.sock');
  const frontSocket = join(dir.path, 'front.sock');
  const conn = new RuntimeConnection(runtimeSocket);
  /** The reset code of each runtime-side stream, as it closes. */
  const runtimeClosed: number[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();

  const closedAfter = (count: number) =>
    waitFor('the runtime side of the call to close', () => runtimeClosed.length > count, 5000);

  before(async () => {
    runtime.on('session', (s) => sessions.add(s));
    front.on('session', (s) => sessions.add(s));
    // A runtime that answers "ok" to a body of "answer" and never answers anything else.
    runtime.on('stream', (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (Buffer.concat(chunks).subarray(5).toString() !== 'answer') return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(frame(Buffer.from('ok')));
      });
      stream.on('close', () => runtimeClosed.push(stream.rstCode ?? -1));
    });
    // The shim's side: each call it takes is made to the runtime on the caller's behalf.
    front.on('stream', (stream, headers) => {
      const body = Buffer.from(String(headers['x-body'] ?? ''));
      callUnary(conn, request, frame(body), stream).then(
        (r) => {
          stream.respond({ ':status': 200, 'x-upstream-status': String(r.status) }, { endStream: true });
        },
        () => {},
      );
    });
    await listen(runtime, runtimeSocket);
    await listen(front, frontSocket);
  });

  after(async () => {
    conn.close();
    for (const s of sessions) s.destroy();
    await Promise.all([closeServer(runtime), closeServer(front)]);
    dir.remove();
  });

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
