import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CODE_LENGTHS, huffmanDecode } from '../../src/h2/huffman.js';
import { encodeHeaderBlock, encodeInteger, HpackDecoder, HpackError, type HeaderField } from '../../src/h2/hpack.js';
import { HpackEncoder, huffmanEncode } from '../support/hpack-encoder.js';
import { rng } from '../support/rng.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: HeaderField[]) => fields.map((f) => [f.name, f.value]);

// RFC 7541 Appendix C: each sequence is decoded with one decoder, in order. C.3 and C.4 are the
// same three requests (plain, then Huffman strings); C.5 and C.6 the same three responses.
const REQUESTS: [string, string][][] = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];
const RESPONSE_302: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
  ['location', 'https://www.example.com'],
];
const RESPONSES: [string, string][][] = [
  RESPONSE_302,
  [[':status', '307'], ...RESPONSE_302.slice(1)],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ],
];
const RFC_SEQUENCES: { name: string; tableSize: number; blocks: string[]; expected: [string, string][][] }[] = [
  {
    name: 'C.3 requests, plain strings',
    tableSize: 4096,
    blocks: [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
    expected: REQUESTS,
  },
  {
    name: 'C.4 requests, Huffman',
    tableSize: 4096,
    blocks: [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
    expected: REQUESTS,
  },
  {
    name: 'C.5 responses, plain strings, 256-octet table that evicts',
    tableSize: 256,
    blocks: [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 ' +
        '474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 ' +
        '666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 ' +
        '3630 303b 2076 6572 7369 6f6e 3d31',
    ],
    expected: RESPONSES,
  },
  {
    name: 'C.6 responses, Huffman, 256-octet table that evicts',
    tableSize: 256,
    blocks: [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 ' +
        '63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 ' +
        'b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ],
    expected: RESPONSES,
  },
];

describe('Huffman code (RFC 7541 Appendix B)', () => {
  it('is complete: the code lengths fill the code space exactly (Kraft sum 1)', () => {
    assert.equal(CODE_LENGTHS.length, 257);
    assert.equal(
      CODE_LENGTHS.reduce((sum, l) => sum + 2 ** -l, 0),
      1,
    );
  });

  it('round-trips every octet', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    assert.equal(huffmanDecode(huffmanEncode(all)), all);
    assert.deepEqual(huffmanEncode('www.example.com'), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
  });

  const bad: [string, string][] = [
    ['padding longer than 7 bits', 'ff'],
    ['padding that is not all ones', 'f0'], // 'w' (1111000), then a 0 bit
    ['the EOS symbol', 'ffff ffff'],
  ];
  for (const [what, bytes] of bad) {
    it(`refuses ${what}`, () => assert.throws(() => huffmanDecode(hex(bytes))));
  }
});

describe('HpackDecoder', () => {
  for (const seq of RFC_SEQUENCES) {
    it(`decodes RFC 7541 ${seq.name}`, () => {
      const decoder = new HpackDecoder(seq.tableSize, 65536);
      for (const [i, block] of seq.blocks.entries())
        assert.deepEqual(pairs(decoder.decode(hex(block))), seq.expected[i]);
    });
  }

  it('decodes C.2 literals: incremental, without indexing, never indexed (kept sensitive)', () => {
    const d = new HpackDecoder(4096, 65536);
    assert.deepEqual(pairs(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))), [
      ['custom-key', 'custom-header'],
    ]);
    assert.deepEqual(pairs(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468'))), [[':path', '/sample/path']]);
    const [secret] = d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
    assert.deepEqual([secret!.name, secret!.value, secret!.sensitive], ['password', 'secret', true]);
    // Only the first went into the table: index 62 is it, 63 does not exist.
    assert.deepEqual(pairs(d.decode(hex('be'))), [['custom-key', 'custom-header']]);
    assert.throws(() => d.decode(hex('bf')), HpackError);
  });

  it('follows table size updates, and refuses one above the limit or after a field', () => {
    const encoder = new HpackEncoder(4096);
    const decoder = new HpackDecoder(4096, 65536);
    decoder.decode(
      encoder.encode([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
    encoder.resize(0, 64); // empties the table, then allows one small entry
    assert.deepEqual(
      pairs(
        decoder.decode(
          encoder.encode([
            ['c', '3'],
            ['a', '1'],
          ]),
        ),
      ),
      [
        ['c', '3'],
        ['a', '1'],
      ],
    );
    assert.throws(() => new HpackDecoder(4096, 65536).decode(encodeInteger(4097, 5, 0x20)), /above the limit/);
    assert.equal(new HpackDecoder(4096, 65536).decode(encodeInteger(4096, 5, 0x20)).length, 0);
    assert.throws(() => new HpackDecoder(4096, 65536).decode(hex('82 20')), /after a header field/);
  });

  it('keeps its table in step with an encoder whose small table evicts on every block', () => {
    const encoder = new HpackEncoder(128);
    const decoder = new HpackDecoder(128, 65536);
    for (let i = 0; i < 200; i++) {
      const fields: [string, string][] = [
        [':method', 'POST'],
        [':authority', `/run/sock-${i % 7}`],
        [`x-${i % 5}`, 'v'.repeat(i % 40)],
      ];
      const block = encoder.encode(fields, { huffman: i % 2 === 0 });
      assert.deepEqual(pairs(decoder.decode(block)), fields, `block ${i}`);
    }
  });

  const malformed: [string, string][] = [
    ['index 0', '80'],
    ['an index past the tables', 'ff 00'],
    ['a truncated integer', 'ff'],
    ['an integer over 2^31', '7f ff ff ff ff 7f'],
    ['a string longer than the block', '40 05 61'],
    ['a truncated literal', '40'],
  ];
  for (const [what, bytes] of malformed) {
    it(`refuses ${what} with HpackError`, () =>
      assert.throws(() => new HpackDecoder(4096, 65536).decode(hex(bytes)), HpackError));
  }

  it('refuses a table size update whose integer is 150 octets of 0x80 (NaN once decoded) and then any growth', () => {
    const decoder = new HpackDecoder(4096, 1 << 20);
    const nan = Buffer.concat([Buffer.from([0x3f]), Buffer.alloc(150, 0x80), Buffer.from([0x00])]);
    assert.throws(() => decoder.decode(nan), /integer too large/);
    // The table kept its bound: of two 3000-octet entries, the older is evicted.
    const encoder = new HpackEncoder(4096);
    decoder.decode(encoder.encode([['x-a', 'a'.repeat(3000)]]));
    decoder.decode(encoder.encode([['x-b', 'b'.repeat(3000)]]));
    assert.deepEqual(pairs(decoder.decode(hex('be'))), [['x-b', 'b'.repeat(3000)]]);
    assert.throws(() => decoder.decode(hex('bf')), /not in the table/);
  });

  it('reads every integer from the wire as a finite integer within 2^31 - 1, or refuses it (fuzz)', () => {
    const random = rng(7541);
    const cases: Buffer[] = [];
    // Values up to and past 2^31 in every prefix, their truncations, and long runs of continuation octets.
    for (const prefix of [4, 5, 6, 7]) {
      for (const value of [
        0,
        1,
        (1 << prefix) - 2,
        (1 << prefix) - 1,
        127,
        128,
        4096,
        2 ** 21,
        2 ** 28,
        2 ** 31 - 1,
        2 ** 31,
        2 ** 32,
        2 ** 40,
        Number.MAX_SAFE_INTEGER,
      ]) {
        const encoded = encodeInteger(value, prefix, 0);
        cases.push(encoded, encoded.subarray(0, encoded.length - 1));
      }
    }
    for (let i = 0; i < 5000; i++) {
      const length = 1 + Math.floor(random() * 160);
      const bytes = Buffer.alloc(length);
      bytes[0] = [0x3f, 0x7f, 0xff, 0x0f, 0x1f][i % 5]!;
      for (let j = 1; j < length; j++) bytes[j] = random() < 0.9 ? 0x80 | Math.floor(random() * 128) : 0;
      cases.push(bytes);
    }
    for (const block of cases) {
      const decoder = new HpackDecoder(4096, 1 << 20);
      try {
        for (const field of decoder.decode(block)) assert.ok(field.name.length + field.value.length < 1 << 20);
      } catch (e) {
        assert.ok(e instanceof HpackError, String(e));
      }
    }
    // A size update the decoder accepted left a table it can still evict from.
    const decoder = new HpackDecoder(4096, 1 << 20);
    decoder.decode(encodeInteger(100, 5, 0x20));
    assert.throws(() => decoder.decode(encodeInteger(2 ** 31, 5, 0x20)), HpackError);
  });

  it('refuses a header list above its bound', () => {
    const block = new HpackEncoder().encode([['x', 'y'.repeat(100)]], { representation: 'without' });
    assert.throws(() => new HpackDecoder(4096, 100).decode(block), /header list larger/);
    assert.equal(new HpackDecoder(4096, 200).decode(block).length, 1);
  });
});

describe('encodeHeaderBlock', () => {
  it('writes blocks any decoder reads without touching its table', () => {
    const fields: HeaderField[] = [
      { name: ':method', value: 'POST', sensitive: false },
      { name: ':authority', value: 'localhost', sensitive: false },
      { name: 'content-type', value: 'application/grpc', sensitive: false },
      { name: 'authorization', value: 'Bearer x', sensitive: true },
      { name: 'x-bytes', value: '\x00\xff\x80', sensitive: false },
    ];
    const decoder = new HpackDecoder(0, 65536); // a table of size 0: any indexing would fail
    assert.deepEqual(decoder.decode(encodeHeaderBlock(fields)), fields);
    assert.deepEqual(encodeHeaderBlock([{ name: ':method', value: 'POST', sensitive: false }]), hex('83'));
  });
});
