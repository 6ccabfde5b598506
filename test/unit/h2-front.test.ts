// The HTTP/2 front (h2/handoff) in front of a real node:http2 server: every authority form a
// client may send, every way a header block may be written, and every way a client may break
// the protocol, with raw clients that write each frame themselves.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SUBSTITUTE_AUTHORITY } from '../../src/h2/authority.js';
import { CLIENT_PREFACE, EMPTY_SETTINGS, ErrorCode, FrameType, frameHeader } from '../../src/h2/frames.js';
import { handOff } from '../../src/h2/handoff.js';
import { grpcRequest, header, RawH2Client } from '../support/h2-client.js';
import { tempDir } from '../support/procs.js';

const tmp = tempDir('h2-front');
const path = join(tmp.path, 'front.sock');
const seen = { direct: 0, filtered: 0, refused: [] as string[], replaced: [] as (string | undefined)[] };

let server: http2.Http2Server;
let listener: net.Server;

before(async () => {
  server = http2.createServer({ settings: { initialWindowSize: 4 * 1024 * 1024, maxHeaderListSize: 65536 } });
  // Answers what it saw: the authority, the request body's length, the client's trailers.
  server.on('stream', (stream, headers) => {
    let length = 0;
    let trailer = '';
    stream.on('trailers', (t) => (trailer = String(t['x-sum'])));
    stream.on('data', (chunk: Buffer) => (length += chunk.length));
    stream.on('end', () => {
      stream.respond({
        ':status': 200,
        'x-authority': String(headers[':authority']),
        'x-length': String(length),
        'x-trailer': trailer,
      });
      stream.end();
    });
  });
  listener = net.createServer((socket) =>
    handOff(socket, server, {
      headerTableSize: 4096,
      maxFrameSize: 16384,
      maxHeaderListSize: 2 * 65536,
      prefaceTimeoutMs: 400,
      settingsTimeoutMs: 500,
      idleTimeoutMs: () => 60_000,
      onRefused: (reason) => seen.refused.push(reason),
      onDirect: () => seen.direct++,
      onFiltered: (original) => {
        seen.filtered++;
        seen.replaced.push(original);
      },
    }),
  );
  await new Promise<void>((resolve) => listener.listen(path, resolve));
});

after(() => {
  listener.close();
  server.close();
  tmp.remove();
});

beforeEach(() => {
  seen.direct = seen.filtered = 0;
  seen.refused = [];
  seen.replaced = [];
});

const SOCKET_PATH = '/var/run/image-cri-shim.sock';

describe('authority forms', () => {
  const cases: { name: string; authority: string | undefined; served: string; way: 'direct' | 'filtered' }[] = [
    {
      name: 'a socket path (grpc-go, kubelet/crictl <= 1.30)',
      authority: SOCKET_PATH,
      served: SUBSTITUTE_AUTHORITY,
      way: 'filtered',
    },
    { name: 'an empty authority', authority: '', served: SUBSTITUTE_AUTHORITY, way: 'filtered' },
    { name: 'no authority at all', authority: undefined, served: SUBSTITUTE_AUTHORITY, way: 'filtered' },
    {
      name: 'a %-encoded path (newer gRPC core)',
      authority: '%2Fvar%2Frun%2Fimage-cri-shim.sock',
      served: '%2Fvar%2Frun%2Fimage-cri-shim.sock',
      way: 'direct',
    },
    { name: 'localhost (kubelet/crictl >= 1.31)', authority: 'localhost', served: 'localhost', way: 'direct' },
  ];
  for (const c of cases) {
    for (const awaitServerPreface of [true, false]) {
      it(
        `serves ${c.name}, ` +
          `${awaitServerPreface ? 'client waiting for the server preface' : 'request sent at once'}`,
        async () => {
          const client = await RawH2Client.connect(path, { awaitServerPreface });
          const first = client.request(grpcRequest('/a', c.authority), { body: Buffer.from([0, 0, 0, 0, 0]) });
          const second = client.request(grpcRequest('/b', c.authority));
          for (const id of [first, second]) {
            const r = await client.result(id);
            assert.equal(r.reset, undefined);
            assert.equal(header(r.headers[0], ':status'), '200');
            assert.equal(header(r.headers[0], 'x-authority'), c.served);
          }
          assert.equal(header((await client.result(first)).headers[0], 'x-length'), '5');
          assert.deepEqual([seen.direct, seen.filtered], c.way === 'direct' ? [1, 0] : [0, 1]);
          if (c.way === 'filtered') assert.deepEqual(seen.replaced, [c.authority]);
          assert.deepEqual(seen.refused, []);
          client.close();
        },
      );
    }
  }
});

describe('header blocks through the filter', () => {
  const encodings = [
    { huffman: false, representation: 'incremental' as const },
    { huffman: true, representation: 'incremental' as const },
    { huffman: true, representation: 'without' as const },
    { huffman: false, representation: 'never' as const },
  ];
  const framings = [
    {},
    { split: 7 },
    { split: 1 },
    { padding: 13 },
    { priority: true },
    { padding: 0, priority: true, split: 5 },
  ];
  for (const encoding of encodings) {
    for (const framing of framings) {
      it(`${JSON.stringify({ ...encoding, ...framing })}: 6 requests on one connection`, async () => {
        const client = await RawH2Client.connect(path);
        for (let i = 0; i < 6; i++) {
          const extra: [string, string][] = [
            ['user-agent', 'grpc-go/1.59.0'],
            [`x-n${i % 3}`, 'v'.repeat(i * 10)],
          ];
          const r = await client.result(
            client.request(grpcRequest(`/m/${i}`, SOCKET_PATH, extra), { ...encoding, ...framing }),
          );
          assert.equal(r.reset, undefined, `request ${i}`);
          assert.equal(header(r.headers[0], 'x-authority'), SUBSTITUTE_AUTHORITY);
        }
        assert.equal(seen.filtered, 1);
        client.close();
      });
    }
  }

  it('follows a client table of 200 octets that evicts on every request, with size updates', async () => {
    const client = await RawH2Client.connect(path);
    client.encoder.resize(200);
    for (let i = 0; i < 30; i++) {
      if (i === 10) client.encoder.resize(0, 150); // empty, then smaller: two updates in one block
      const extra: [string, string][] = [[`x-key-${i % 4}`, `value-${i}`.repeat(3)]];
      const r = await client.result(
        client.request(grpcRequest(`/evict/${i % 5}`, `${SOCKET_PATH}${i % 3}`, extra), { huffman: i % 2 === 0 }),
      );
      assert.equal(header(r.headers[0], 'x-authority'), SUBSTITUTE_AUTHORITY, `request ${i}`);
    }
    client.close();
  });

  it('relays a body of many DATA frames and the client trailers', async () => {
    const client = await RawH2Client.connect(path);
    // Four DATA frames, within the connection's flow-control window (this client does not wait for WINDOW_UPDATE).
    const body = Buffer.alloc(65_000, 7);
    const r = await client.result(
      client.request(grpcRequest('/big', SOCKET_PATH), { body, trailers: [['x-sum', 'all-sent']], huffman: true }),
    );
    assert.equal(header(r.headers[0], 'x-length'), String(body.length));
    assert.equal(header(r.headers[0], 'x-trailer'), 'all-sent');
    client.close();
  });
});

describe('protocol errors', () => {
  async function goawayAfter(
    send: (c: RawH2Client) => void,
    options: { awaitServerPreface?: boolean } = {},
  ): Promise<RawH2Client> {
    const client = await RawH2Client.connect(path, options);
    send(client);
    await client.until(() => client.goaway !== undefined || client.closed, 'GOAWAY');
    return client;
  }

  const badBlocks: [string, Buffer][] = [
    ['index 0', Buffer.from([0x80])],
    ['an index past the table', Buffer.from([0xff, 0x10])],
    ['a Huffman string with a bad padding', Buffer.from([0x00, 0x81, 0x00, 0x01, 0x61])],
    ['a string longer than its block', Buffer.from([0x00, 0x7f, 0x10, 0x61])],
  ];
  for (const [what, block] of badBlocks) {
    for (const first of [true, false]) {
      it(
        `answers ${what} in the ${first ? 'first' : 'second'} block with GOAWAY COMPRESSION_ERROR and reports it ` +
          `once`,
        async () => {
          const client = await goawayAfter(async (c) => {
            if (!first) await c.result(c.request(grpcRequest('/ok', SOCKET_PATH)));
            c.write(c.headersFrames(first ? 1 : 3, block, {}, true));
          });
          assert.equal(client.goaway?.code, ErrorCode.COMPRESSION_ERROR);
          assert.equal(seen.refused.length, 1, seen.refused.join('; '));
          assert.match(seen.refused[0]!, /header block/);
          client.close();
        },
      );
    }
  }

  it('answers a frame inside a split header block with GOAWAY PROTOCOL_ERROR', async () => {
    const client = await goawayAfter((c) => {
      const block = c.encoder.encode(grpcRequest('/x', SOCKET_PATH));
      const headers = c.headersFrames(1, block, { split: 10 }, true);
      // HEADERS without END_HEADERS, then a PING where the CONTINUATION should be.
      c.write(Buffer.concat([headers.subarray(0, 9 + 10), frameHeader(8, FrameType.PING, 0, 0), Buffer.alloc(8)]));
    });
    assert.equal(client.goaway?.code, ErrorCode.PROTOCOL_ERROR);
    assert.equal(seen.refused.length, 1);
    client.close();
  });

  it('answers a client that never acknowledges the SETTINGS with GOAWAY SETTINGS_TIMEOUT', async () => {
    const socket = net.connect(path);
    const frames: Buffer[] = [];
    socket.on('data', (d: Buffer) => frames.push(d));
    socket.write(Buffer.concat([CLIENT_PREFACE, EMPTY_SETTINGS]));
    await new Promise((resolve) => socket.once('close', resolve));
    const all = Buffer.concat(frames);
    const goaway = all.subarray(EMPTY_SETTINGS.length);
    assert.equal(goaway[3], FrameType.GOAWAY);
    assert.equal(goaway.readUInt32BE(9 + 4), ErrorCode.SETTINGS_TIMEOUT);
    assert.deepEqual(seen.refused, ['no SETTINGS ACK']);
  });

  it('reports a client that does not speak HTTP/2, and node:http2 answers it', async () => {
    const socket = net.connect(path);
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    assert.deepEqual(seen.refused, ['not an HTTP/2 client preface']);
    assert.ok(Buffer.concat(got).includes(Buffer.from([FrameType.GOAWAY])), 'node:http2 sent its GOAWAY');
  });

  it('keeps serving other connections after refusing one', async () => {
    const bad = await goawayAfter((c) => c.write(c.headersFrames(1, Buffer.from([0x80]), {}, true)));
    bad.close();
    const good = await RawH2Client.connect(path);
    const r = await good.result(good.request(grpcRequest('/after', SOCKET_PATH)));
    assert.equal(header(r.headers[0], ':status'), '200');
    good.close();
  });
});
