// The floor for any CRI proxy on this machine: a bare HTTP/2 stream relay in its own process,
// no gRPC, no decoding, no metrics. Usage: node h2-relay.js LISTEN_SOCKET UPSTREAM_SOCKET

import http2 from 'node:http2';
import net from 'node:net';

const [listen, upstream] = process.argv.slice(2);
if (!listen || !upstream) throw new Error('usage: h2-relay LISTEN_SOCKET UPSTREAM_SOCKET');

const session = http2.connect('http://localhost', { createConnection: () => net.connect(upstream) });
const server = http2.createServer();
server.on('stream', (down, headers) => {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') || k === ':path' || k === ':method') out[k] = v;
  const up = session.request(out);
  down.pipe(up);
  let trailers: http2.IncomingHttpHeaders = {};
  up.on('response', (h, flags) => {
    const { ':status': status, ...rest } = h;
    if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM)
      return down.respond({ ':status': status, ...rest }, { endStream: true });
    down.respond({ ':status': status, ...rest }, { waitForTrailers: true });
    up.pipe(down);
  });
  up.on('trailers', (t) => (trailers = t));
  down.on('wantTrailers', () => down.sendTrailers(trailers));
});
server.listen(listen, () => process.stdout.write('relay ready\n'));
process.on('SIGTERM', () => process.exit(0));
