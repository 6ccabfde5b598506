// The shim's HTTP/2 pieces checked against nghttp2 itself (inside node:http2): the HPACK
// decoder reads what nghttp2's encoder writes, and acceptedAuthority agrees with nghttp2's
// server on every octet.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acceptedAuthority } from '../../src/h2/authority.js';
import { CLIENT_PREFACE, EMPTY_SETTINGS, FrameReader, FrameType, HeaderBlockAssembler } from '../../src/h2/frames.js';
import { HpackDecoder } from '../../src/h2/hpack.js';
import { grpcRequest, RawH2Client } from '../support/h2-client.js';
import { tempDir } from '../support/procs.js';

const tmp = tempDir('h2-nghttp2');
after(() => tmp.remove());

describe('HpackDecoder on nghttp2 output', () => {
  it('decodes the header blocks node:http2 sends, Huffman, indexing and never-indexed included', async () => {
    const path = join(tmp.path, 'capture.sock');
    const blocks: Buffer[] = [];
    const server = net.createServer((socket) => {
      socket.write(EMPTY_SETTINGS);
      let preface = Buffer.alloc(0);
      const reader = new FrameReader(1 << 20);
      const assembler = new HeaderBlockAssembler(1 << 20);
      socket.on('data', (chunk: Buffer) => {
        if (preface.length < CLIENT_PREFACE.length) {
          preface = Buffer.concat([preface, chunk]);
          if (preface.length < CLIENT_PREFACE.length) return;
          chunk = preface.subarray(CLIENT_PREFACE.length);
        }
        for (const f of reader.push(chunk)) {
          const block =
            f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION ? assembler.accept(f) : undefined;
          if (block) blocks.push(block.fragment);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(path) });
    session.on('error', () => {});
    // Every octet a header value may hold (HTAB, visible ASCII, obs-text), in runs.
    const octets = [
      9,
      ...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x20 + i),
      ...Array.from({ length: 128 }, (_, i) => 0x80 + i),
    ];
    const values = Array.from({ length: 8 }, (_, k) => String.fromCharCode(...octets.slice(k * 28, k * 28 + 28)));
    const sent: Record<string, string>[] = [];
    for (let i = 0; i < 3; i++) {
      const headers: Record<string, string | string[]> = {
        ':method': 'POST',
        ':path': `/p/${i}`,
        'x-common': 'same on every request',
        'x-secret': `s${i}`,
      };
      for (const [k, v] of values.entries()) headers[`x-v${k}`] = i === 1 ? v.split('').reverse().join('') : v;
      const req = session.request({ ...headers, [http2.sensitiveHeaders]: ['x-secret'] } as http2.OutgoingHttpHeaders);
      req.on('error', () => {});
      sent.push(headers as Record<string, string>);
    }
    const deadline = Date.now() + 5000;
    while (blocks.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    session.destroy();
    server.close();
    assert.equal(blocks.length, 3);
    const decoder = new HpackDecoder(4096, 1 << 20);
    blocks.forEach((block, i) => {
      const fields = decoder.decode(block);
      const got = Object.fromEntries(fields.map((f) => [f.name, f.value]));
      for (const [name, value] of Object.entries(sent[i]!)) assert.equal(got[name], value, `request ${i} ${name}`);
      assert.equal(fields.find((f) => f.name === 'x-secret')?.sensitive, true);
    });
    // The blocks did use what this test is about: Huffman strings and the dynamic table.
    assert.ok(
      blocks.some((b) => b.some((byte) => byte >= 0xbe)),
      'some field indexed from the dynamic table',
    );
  });
});

describe('acceptedAuthority', () => {
  let server: http2.Http2Server;
  const path = join(tmp.path, 'h2.sock');
  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream) => stream.respond({ ':status': 200 }, { endStream: true }));
    await new Promise<void>((resolve) => server.listen(path, resolve));
  });
  after(() => server.close());

  it('agrees with node:http2 on every octet, on the empty value and on a missing one', async () => {
    const client = await RawH2Client.connect(path);
    const cases: (string | undefined)[] = [
      undefined,
      '',
      ...Array.from({ length: 256 }, (_, b) => `a${String.fromCharCode(b)}b`),
    ];
    const ids = cases.map((authority) => client.request(grpcRequest('/x', authority), { representation: 'without' }));
    for (const [i, id] of ids.entries()) {
      const result = await client.result(id);
      const served = result.reset === undefined;
      const authority = cases[i];
      assert.equal(
        authority !== undefined && acceptedAuthority(authority),
        served,
        `:authority ${JSON.stringify(authority)}`,
      );
    }
    assert.equal(acceptedAuthority('/var/run/image-cri-shim.sock'), false);
    assert.equal(acceptedAuthority('%2Fvar%2Frun%2Fimage-cri-shim.sock'), true);
    client.close();
  });
});
