// One CRI Version call over HTTP/2 on a unix socket, as kubelet's first call to a runtime: the
// bench times the shim's start-up to its answer, and the code-cache build warms the shim up with it.

import http2 from 'node:http2';
import net from 'node:net';

/** Whether a Version call through `socket` is answered with gRPC status OK (false if refused). */
export function answersVersion(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    const done = (ok: boolean) => {
      session.destroy();
      resolve(ok);
    };
    session.once('error', () => done(false));
    const call = session.request({
      ':method': 'POST',
      ':path': '/runtime.v1.RuntimeService/Version',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: unknown;
    call.once('trailers', (trailers) => {
      status = trailers['grpc-status'];
    });
    call.once('error', () => done(false));
    call.once('close', () => done(status === '0'));
    call.resume();
    call.end(Buffer.alloc(5)); // an empty VersionRequest: no compression, length 0
  });
}
