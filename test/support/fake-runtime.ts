// A runtime for unit tests: an HTTP/2 server on a unix socket answering every CRI call with an
// empty message and OK (Version says it is "fake"), and recording what it was asked.

import http2 from 'node:http2';
import protobuf from 'protobufjs/minimal.js';
import { frame } from '../../src/cri/grpc.js';

export interface FakeRuntime {
  /** Methods asked, in order (the last path segment). */
  readonly asked: string[];
  close(): Promise<void>;
}

export async function startFakeRuntime(socketPath: string): Promise<FakeRuntime> {
  const asked: string[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const method = String(headers[':path']).split('/').pop()!;
    asked.push(method);
    stream.on('data', () => {});
    stream.on('end', () => {
      const answer =
        method === 'Version' ? protobuf.Writer.create().uint32(18).string('fake').finish() : new Uint8Array(0);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    asked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
