// Fuzzing the HTTP/2 front's parsers with seeded random and mutated input (replayable from the
// seed): the HPACK decoder and the authority filter never fail other than with their own typed
// errors, and a live front never crashes, hangs or leaves a connection open on garbage.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuthorityFilter } from '../../src/h2/authority-filter.js';
import { CLIENT_PREFACE, ConnectionError, EMPTY_SETTINGS, Flag, FrameType, frameHeader } from '../../src/h2/frames.js';
import { handOff } from '../../src/h2/handoff.js';
import { HpackDecoder, HpackError } from '../../src/h2/hpack.js';
import { continuationFrames, grpcRequest } from '../support/h2-client.js';
import { HpackEncoder, type Representation } from '../support/hpack-encoder.js';
import { tempDir } from '../support/procs.js';
import { rng } from '../support/rng.js';

const LIMITS = { headerTableSize: 4096, maxFrameSize: 16384, maxHeaderListSize: 65536 };
const REPRESENTATIONS: Representation[] = ['incremental', 'without', 'never'];

function mutate(input: Buffer, r: () => number): Buffer {
  const bytes = [...input];
  const edits = 1 + Math.floor(r() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (bytes.length + 1));
    const op = r();
    if (op < 0.4 && bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = Math.floor(r() * 256);
    else if (op < 0.6) bytes.splice(at, 1 + Math.floor(r() * 4));
    else if (op < 0.8)
      bytes.splice(
        at,
        0,
        ...Array.from(
          { length: 1 + Math.floor(r() * 4) },
          () => [0x00, 0x7f, 0x80, 0xff, 0x3f, 0x20][Math.floor(r() * 6)]!,
        ),
      );
    else bytes.length = Math.max(0, at);
  }
  return Buffer.from(bytes);
}

/** A client's bytes after the preface: SETTINGS, its ACK of the server's, and `n` requests. */
function clientStream(r: () => number, n: number): Buffer {
  const encoder = new HpackEncoder(r() < 0.5 ? 4096 : 256);
  const parts = [EMPTY_SETTINGS, frameHeader(0, FrameType.SETTINGS, Flag.ACK, 0)];
  for (let i = 0; i < n; i++) {
    const id = 1 + 2 * i;
    const block = encoder.encode(
      grpcRequest(`/s/${i % 3}`, r() < 0.5 ? '/var/run/x.sock' : undefined, [[`x-${i}`, 'v'.repeat(i * 7)]]),
      {
        huffman: r() < 0.5,
        representation: REPRESENTATIONS[Math.floor(r() * 3)],
      },
    );
    const split = 1 + Math.floor(r() * (block.length + 1));
    parts.push(
      frameHeader(
        Math.min(split, block.length),
        FrameType.HEADERS,
        (split >= block.length ? Flag.END_HEADERS : 0) | Flag.END_STREAM,
        id,
      ),
      block.subarray(0, split),
      ...continuationFrames(id, block, split),
    );
  }
  return Buffer.concat(parts);
}

function chunks(input: Buffer, r: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < input.length; ) {
    const n = 1 + Math.floor(r() * 64);
    out.push(input.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

describe('HpackDecoder fuzz', () => {
  it('random and mutated blocks: fields or HpackError, never anything else', () => {
    const r = rng(0x4a5c);
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      let block: Buffer;
      if (i % 2 === 0) {
        block = Buffer.from(Array.from({ length: Math.floor(r() * 48) }, () => Math.floor(r() * 256)));
      } else {
        const valid = new HpackEncoder().encode(grpcRequest('/m', '/run/x.sock', [['x', 'y'.repeat(i % 50)]]), {
          huffman: r() < 0.5,
          representation: REPRESENTATIONS[i % 3],
        });
        block = mutate(valid, r);
      }
      const decoder = new HpackDecoder(4096, 4096);
      try {
        const fields = decoder.decode(block);
        assert.ok(fields.reduce((n, f) => n + f.name.length + f.value.length + 32, 0) <= 4096);
        decoded++;
      } catch (e) {
        if (!(e instanceof HpackError)) throw new Error(`block ${block.toString('hex')}: ${(e as Error).stack}`);
        refused++;
      }
    }
    assert.ok(decoded > 1000 && refused > 1000, `decoded ${decoded}, refused ${refused}`);
  });
});

describe('AuthorityFilter fuzz', () => {
  it('gives the same bytes however the stream is chunked', () => {
    const r = rng(0xc0de);
    for (let i = 0; i < 300; i++) {
      const stream = clientStream(r, 1 + (i % 6));
      const whole = Buffer.concat(new AuthorityFilter(LIMITS, () => {}, true).push(stream));
      const filter = new AuthorityFilter(LIMITS, () => {}, true);
      const pieces = Buffer.concat(chunks(stream, r).flatMap((c) => filter.push(c)));
      assert.deepEqual(pieces, whole, `stream ${i}`);
    }
  });

  it('mutated streams: bytes or ConnectionError, never anything else', () => {
    const r = rng(0xf11e);
    let errors = 0;
    for (let i = 0; i < 5000; i++) {
      const filter = new AuthorityFilter(LIMITS, () => {}, true);
      try {
        for (const c of chunks(mutate(clientStream(r, 1 + (i % 4)), r), r)) filter.push(c);
      } catch (e) {
        if (!(e instanceof ConnectionError)) throw e;
        errors++;
      }
    }
    assert.ok(errors > 500, `${errors} connection errors`);
  });
});

describe('live front fuzz', () => {
  it('150 mutated connections: the server never crashes, each connection is served, refused or closed', async () => {
    const tmp = tempDir('h2-fuzz');
    const path = join(tmp.path, 'f.sock');
    const seen = { handed: 0, refused: 0, streams: 0 };
    const server = http2.createServer();
    server.on('stream', (stream) => {
      seen.streams++;
      stream.on('error', () => {});
      stream.respond({ ':status': 200 }, { endStream: true });
    });
    server.on('session', (s) => s.on('error', () => {}));
    const listener = net.createServer((socket) =>
      handOff(socket, server, {
        ...LIMITS,
        prefaceTimeoutMs: 300,
        settingsTimeoutMs: 300,
        idleTimeoutMs: () => 60_000,
        onRefused: () => seen.refused++,
        onDirect: () => seen.handed++,
        onFiltered: () => seen.handed++,
      }),
    );
    await new Promise<void>((resolve) => listener.listen(path, resolve));
    const r = rng(0xbeef);
    try {
      for (let i = 0; i < 150; i++) {
        const input = Buffer.concat([
          CLIENT_PREFACE,
          i % 10 === 0 ? clientStream(r, 2) : mutate(clientStream(r, 2), r),
        ]);
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(path);
          const timer = setTimeout(() => reject(new Error(`connection ${i} still open after 5 s`)), 5000);
          socket.on('error', () => {});
          socket.on('data', () => {});
          socket.on('close', () => {
            clearTimeout(timer);
            resolve();
          });
          for (const c of chunks(input, r)) socket.write(c);
          // A client that stops talking: the front (settings timeout) or the server ends it, or we do.
          setTimeout(() => socket.end(), 50);
        });
      }
      // Every unmutated connection (one in ten) was served; the mutated ones were refused or closed.
      assert.ok(seen.streams >= 15, `${seen.streams} requests served`);
      assert.ok(seen.handed >= 15, `${seen.handed} connections handed to node:http2`);
      assert.ok(seen.refused > 0, 'the mutations reached the refusal path');
      assert.ok(seen.handed + seen.refused <= 150 * 2, 'each connection decided at most once, refused once more');
    } finally {
      listener.close();
      server.close();
      tmp.remove();
    }
  });
});
