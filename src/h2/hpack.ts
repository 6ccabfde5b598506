// HPACK (RFC 7541) for the shim's HTTP/2 front: a strict decoder that mirrors the client's
// dynamic table, and an encoder that writes a header list without touching the receiver's
// table (indexed static entries and literals "without indexing" only), so the re-encoded
// blocks the shim forwards never have to agree with the client's table.
//
// Names and values are latin1 strings: one char per octet, so any bytes survive the round trip.

import { huffmanDecode, HuffmanError } from './huffman.js';

export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** Sent as "never indexed" (§6.2.3): an intermediary must keep it so. */
  readonly sensitive: boolean;
}

/** A block that cannot be decoded: a connection error of type COMPRESSION_ERROR (RFC 7540 §4.3). */
export class HpackError extends Error {}

// prettier-ignore
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Static table index (1-based) of a name, and of a whole name/value pair. */
const STATIC_NAME = new Map<string, number>();
const STATIC_PAIR = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  STATIC_PAIR.set(`${name}\0${value}`, i + 1);
});

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
export function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

/** Integers above this are refused: no table, string or index of a sane peer comes near it. */
const MAX_INTEGER = 2 ** 31 - 1;
/**
 * Continuation octets an integer up to MAX_INTEGER needs at most (7 bits each). More are refused
 * whatever they hold: octets of 0x80 add nothing, and enough of them would push 2 ** shift to
 * Infinity, where 0 × Infinity is NaN, which passes every bound check.
 */
const MAX_CONTINUATION_OCTETS = Math.ceil(31 / 7);

/** Reads HPACK integers and strings from one block. */
class BlockReader {
  pos = 0;
  constructor(private readonly block: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.block.length;
  }

  peek(): number {
    return this.block[this.pos]!;
  }

  /** §5.1: an integer with an N-bit prefix in the current octet. */
  integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.block[this.pos++]! & max;
    if (value < max) return value;
    for (let octets = 0, shift = 0; ; octets++, shift += 7) {
      if (octets === MAX_CONTINUATION_OCTETS) throw new HpackError('integer too large');
      if (this.done) throw new HpackError('truncated integer');
      const byte = this.block[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError('integer too large');
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** §5.2: a string literal, plain or Huffman-coded. */
  string(): string {
    if (this.done) throw new HpackError('truncated string');
    const huffman = (this.peek() & 0x80) !== 0;
    const length = this.integer(7);
    if (length > this.block.length - this.pos) throw new HpackError('string longer than the block');
    const bytes = this.block.subarray(this.pos, this.pos + length);
    this.pos += length;
    if (!huffman) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    try {
      return huffmanDecode(bytes);
    } catch (e) {
      throw e instanceof HuffmanError ? new HpackError(e.message) : e;
    }
  }
}

/** §2.3.2: the dynamic table, shared by the fields of every block of one direction of a connection. */
export class DynamicTable {
  /** Newest entry last; index 62 is the newest. */
  private readonly entries: [string, string][] = [];
  private size = 0;

  constructor(private capacity: number) {}

  /** The entry at an index of the combined static and dynamic table (§2.3.3), if there is one. */
  get(index: number): readonly [string, string] | undefined {
    if (index <= 0) return undefined;
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    return this.entries[this.entries.length - 1 - (index - STATIC_TABLE.length - 1)];
  }

  /** §4.4: an entry larger than the table empties it and is not added. */
  insert(name: string, value: string): void {
    const size = entrySize(name, value);
    this.evict(size);
    if (size > this.capacity) return;
    this.entries.push([name, value]);
    this.size += size;
  }

  /** §4.3: a new maximum size, evicting what no longer fits. */
  resize(capacity: number): void {
    this.capacity = capacity;
    this.evict(0);
  }

  /** Evicts oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.capacity) {
      const [name, value] = this.entries.shift()!;
      this.size -= entrySize(name, value);
    }
  }
}

/**
 * The decoding context of one direction of one connection. `maxTableSize` is the
 * SETTINGS_HEADER_TABLE_SIZE the receiver advertised: the most a table size update may ask.
 */
export class HpackDecoder {
  private readonly table: DynamicTable;

  constructor(
    private readonly maxTableSize: number,
    /** Bound on the decoded header list (entry sizes summed), beyond which the block is refused. */
    private readonly maxListSize: number,
  ) {
    this.table = new DynamicTable(maxTableSize);
  }

  /** Decodes one complete header block, updating the table; throws HpackError. */
  decode(block: Uint8Array): HeaderField[] {
    const r = new BlockReader(block);
    const fields: HeaderField[] = [];
    let listSize = 0;
    while (!r.done) {
      const b = r.peek();
      let field: HeaderField;
      if (b & 0x80) {
        // §6.1 indexed field
        const [name, value] = this.entry(r.integer(7));
        field = { name, value, sensitive: false };
      } else if (b & 0x40) {
        // §6.2.1 literal with incremental indexing
        field = this.literal(r, 6, false);
        this.table.insert(field.name, field.value);
      } else if (b & 0x20) {
        // §6.3 dynamic table size update: only before the first field (§4.2)
        if (fields.length > 0) throw new HpackError('table size update after a header field');
        const size = r.integer(5);
        if (!(size <= this.maxTableSize))
          throw new HpackError(`table size update ${size} above the limit ${this.maxTableSize}`);
        this.table.resize(size);
        continue;
      } else {
        // §6.2.2 without indexing (0000), §6.2.3 never indexed (0001)
        field = this.literal(r, 4, (b & 0x10) !== 0);
      }
      listSize += entrySize(field.name, field.value);
      if (listSize > this.maxListSize) throw new HpackError(`header list larger than ${this.maxListSize} octets`);
      fields.push(field);
    }
    return fields;
  }

  private literal(r: BlockReader, prefixBits: number, sensitive: boolean): HeaderField {
    const index = r.integer(prefixBits);
    const name = index === 0 ? r.string() : this.entry(index)[0];
    return { name, value: r.string(), sensitive };
  }

  private entry(index: number): readonly [string, string] {
    const entry = this.table.get(index);
    if (!entry) throw new HpackError(`index ${index} not in the table`);
    return entry;
  }
}

/**
 * Encodes a header list so that the receiver's dynamic table is never used: a field equal to
 * a static entry is indexed, every other one is a literal without indexing (never indexed when
 * it came so), with the static table's name index where there is one. No Huffman coding: the
 * blocks cross a local socket.
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, value, sensitive } of fields) {
    const pair = sensitive ? undefined : STATIC_PAIR.get(`${name}\0${value}`);
    if (pair !== undefined) {
      parts.push(encodeInteger(pair, 7, 0x80));
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    parts.push(encodeInteger(nameIndex ?? 0, 4, sensitive ? 0x10 : 0x00));
    if (nameIndex === undefined) parts.push(encodeString(name));
    parts.push(encodeString(value));
  }
  return Buffer.concat(parts);
}

/** §5.1: `value` with an N-bit prefix, the octet's other bits set to `flags`. */
export function encodeInteger(value: number, prefixBits: number, flags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** §5.2: a plain (not Huffman-coded) string literal. */
export function encodeString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([encodeInteger(bytes.length, 7, 0), bytes]);
}
