// A registry front that relays to a real registry while healthy and misbehaves on demand:
// HTTP 500s, connections closed mid-answer, answers slower than the probe timeout, or
// malformed auth challenges; or it relays every request but only after a delay (a busy
// registry that does have the image).

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FlakyMode =
  | 'ok'
  | 'lagging'
  | 'error500'
  | 'close'
  | 'slow'
  | 'badChallenge'
  // 200 text/html to everything, as a captive portal or a misrouted web server answers
  | 'html'
  // HEAD refused (405), then a GET whose answer never ends
  | 'headRefusedGetHangs'
  // manifests found (HEAD relayed), every GET fails with a registry error of ~100 KiB, which
  // containerd quotes in its answer to PullImage
  | 'hugePullError';

/** How long the 'lagging' mode holds each request before relaying it. */
export const LAG_MS = 1500;

export class FlakyRegistry {
  mode: FlakyMode = 'ok';
  /** The Authorization header of every request received, in order ('' when none). */
  readonly authorizations: string[] = [];
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
      const up = http.request(
        {
          host: upHost,
          port: Number(upPort),
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstreamHost },
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    const server = http.createServer((req, res) => {
      self!.authorizations.push(req.headers.authorization ?? '');
      switch (self!.mode) {
        case 'html':
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html>welcome</html>');
          return;
        case 'headRefusedGetHangs':
          if (req.method === 'HEAD') res.writeHead(405).end();
          else
            res
              .writeHead(200, {
                'content-type': 'application/vnd.oci.image.manifest.v1+json',
                'content-length': '1000',
              })
              .write('{');
          return;
        case 'hugePullError':
          if (req.method === 'HEAD') return relay(req, res);
          res
            .writeHead(500, { 'content-type': 'application/json' })
            .end(
              JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `storage failed: ${'x'.repeat(100 * 1024)}` }] }),
            );
          return;
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
