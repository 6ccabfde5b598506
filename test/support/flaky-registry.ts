// A registry front that relays to a real registry while healthy and misbehaves on demand:
// HTTP 500s, connections closed mid-answer, answers slower than the probe timeout, or
// malformed auth challenges; or it relays every request but only after a delay (a busy
// registry that does have the image).

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FlakyMode = 'ok' | 'lagging' | 'error500' | 'close' | 'slow' | 'badChallenge';

/** How long the 'lagging' mode holds each request before relaying it. */
export const LAG_MS = 1500;

export class FlakyRegistry {
  mode: FlakyMode = 'ok';
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: http.Server,
    readonly host: string,
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(upstreamHost: string): Promise<FlakyRegistry> {
    let self: FlakyRegistry | undefined;
    const [upHost, upPort] = upstreamHost.split(':');
    const relay = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const up = http.request({ host: upHost, port: Number(upPort), path: req.url, method: req.method, headers: { ...req.headers, host: upstreamHost } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    const server = http.createServer((req, res) => {
      switch (self!.mode) {
        case 'error500':
          res.writeHead(500).end('internal error');
          return;
        case 'close':
          res.writeHead(200, { 'content-length': '1000' });
          res.write('partial');
          req.socket.destroy();
          return;
        case 'slow':
          setTimeout(() => res.writeHead(404).end(), 3000).unref();
          return;
        case 'badChallenge':
          res.writeHead(401, { 'www-authenticate': '"""=,,' }).end();
          return;
        case 'lagging':
          req.pause();
          setTimeout(() => relay(req, res), LAG_MS).unref();
          return;
        case 'ok':
          relay(req, res);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FlakyRegistry(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return self;
  }

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
