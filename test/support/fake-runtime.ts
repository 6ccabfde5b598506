// A runtime for unit tests: an HTTP/2 server on a unix socket answering each CRI call from a
// function of its method (a message, or a gRPC error status; by default an empty message and
// OK, and Version says it is "fake"), recording what it was asked.

import http2 from 'node:http2';
import protobuf from 'protobufjs/minimal.js';
import type { ShimConfig } from '../../src/config/types.js';
import { frame } from '../../src/cri/grpc.js';
import { CriServer } from '../../src/cri/server.js';
import { RuntimeConnection } from '../../src/cri/upstream.js';
import { type Prober, RewriteEngine } from '../../src/rewrite/engine.js';
import type { OriginalNames } from '../../src/runtime/original-names.js';

/** A method's answer: the message, or the status of an error. */
export type FakeAnswer = Uint8Array | number;

export interface FakeRuntime {
  /** What it was asked, in order: the method (last path segment), the full path and the headers. */
  readonly asked: { method: string; path: string; headers: http2.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

const versionAnswer = protobuf.Writer.create().uint32(18).string('fake').finish();

export async function startFakeRuntime(
  socketPath: string,
  answer: (method: string) => FakeAnswer | undefined = () => undefined,
): Promise<FakeRuntime> {
  const asked: FakeRuntime['asked'] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const method = path.split('/').pop()!;
    asked.push({ method, path, headers });
    stream.on('data', () => {});
    stream.on('end', () => {
      const given = answer(method) ?? (method === 'Version' ? versionAnswer : new Uint8Array(0));
      if (typeof given === 'number') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(given) });
        stream.end();
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(given));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    asked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The shim's CRI server on `shimSocket`, in front of the runtime at `runtimeSocket`, deciding with `prober`. */
export async function startFront(options: {
  shimSocket: string;
  runtimeSocket: string;
  config: ShimConfig;
  prober: Prober;
  names?: (conn: RuntimeConnection) => OriginalNames;
}): Promise<{ server: CriServer; conn: RuntimeConnection; stop(): Promise<void> }> {
  const conn = new RuntimeConnection(options.runtimeSocket);
  const server = new CriServer({
    socketPath: options.shimSocket,
    runtimeSocketPath: options.runtimeSocket,
    conn,
    engine: new RewriteEngine(options.prober, options.config),
    settings: () => options.config,
    names: options.names?.(conn),
  });
  await server.listen();
  return {
    server,
    conn,
    async stop() {
      await server.close(1000);
      conn.close();
    },
  };
}
