// An HPACK encoder for test clients: every representation a real client may use (indexed,
// incremental indexing, without indexing, never indexed), Huffman or plain strings, and
// dynamic table size updates, with its table kept as the receiver keeps its own.

import { CODE_LENGTHS, CODES } from '../../src/h2/huffman.js';
import { DynamicTable, encodeInteger, encodeString } from '../../src/h2/hpack.js';

export type Representation = 'incremental' | 'without' | 'never';

export interface EncodeOptions {
  /** How literals are sent; a field already in the table is indexed unless `never`. */
  representation?: Representation;
  huffman?: boolean;
  /** Use a name index when the name (not the pair) is in a table. */
  indexNames?: boolean;
}

export function huffmanEncode(s: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i);
    let code = CODES[sym]!;
    let length = CODE_LENGTHS[sym]!;
    while (length > 0) {
      const take = Math.min(length, 8 - bits);
      const shift = length - take;
      acc = (acc << take) | Math.floor(code / 2 ** shift);
      code %= 2 ** shift;
      length -= take;
      bits += take;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  // Padding: the most significant bits of EOS, all ones.
  if (bits > 0) out.push((acc << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return Buffer.from(out);
}

function stringLiteral(s: string, huffman: boolean): Buffer {
  if (!huffman) return encodeString(s);
  const coded = huffmanEncode(s);
  return Buffer.concat([encodeInteger(coded.length, 7, 0x80), coded]);
}

export class HpackEncoder {
  private readonly table: DynamicTable;
  private pendingSizeUpdates: number[] = [];

  constructor(tableSize = 4096) {
    this.table = new DynamicTable(tableSize);
  }

  /** Sends table size updates (§6.3) at the start of the next block, as an encoder may. */
  resize(...sizes: number[]): void {
    this.pendingSizeUpdates.push(...sizes);
  }

  encode(fields: readonly (readonly [string, string])[], options: EncodeOptions = {}): Buffer {
    const { representation = 'incremental', huffman = false, indexNames = true } = options;
    const parts: Buffer[] = [];
    for (const size of this.pendingSizeUpdates) {
      parts.push(encodeInteger(size, 5, 0x20));
      this.table.resize(size);
    }
    this.pendingSizeUpdates = [];
    for (const [name, value] of fields) {
      const found = this.find(name, value);
      if (found?.exact && representation !== 'never') {
        parts.push(encodeInteger(found.index, 7, 0x80));
        continue;
      }
      const nameIndex = indexNames ? (found?.index ?? 0) : 0;
      const [prefix, flags] =
        representation === 'incremental' ? [6, 0x40] : [4, representation === 'never' ? 0x10 : 0x00];
      parts.push(encodeInteger(nameIndex, prefix, flags));
      if (nameIndex === 0) parts.push(stringLiteral(name, huffman));
      parts.push(stringLiteral(value, huffman));
      if (representation === 'incremental') this.table.insert(name, value);
    }
    return Buffer.concat(parts);
  }

  /** The newest entry with this pair, or failing that the first with this name. */
  private find(name: string, value: string): { index: number; exact: boolean } | undefined {
    let byName: number | undefined;
    for (let index = 1, entry = this.table.get(1); entry; entry = this.table.get(++index)) {
      if (entry[0] !== name) continue;
      if (entry[1] === value) return { index, exact: true };
      byName ??= index;
    }
    return byName === undefined ? undefined : { index: byName, exact: false };
  }
}
