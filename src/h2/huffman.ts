// The static Huffman code of HPACK (RFC 7541, Appendix B). The code is canonical: codes of one
// length are consecutive and ordered by symbol, each length continuing from the last code of
// the shorter one. So the table is fully given by the length of each symbol's code, and the
// decoder walks a code one bit at a time against the first code and count of each length.

/** Code length in bits of symbols 0–255 and of EOS (256), in the order of Appendix B. */
// prettier-ignore
export const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
  28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6,
  5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23,
  22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22,
  23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26,
  20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27,
  27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27,
  27, 27, 27, 26, 30,
];

export const EOS = 256;
const MAX_LENGTH = 30;

/** Symbols ordered by (code length, symbol): the canonical order. */
const BY_CODE = [...CODE_LENGTHS.keys()].sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);

/** Each symbol's code, right-aligned in `CODE_LENGTHS[symbol]` bits. */
export const CODES: readonly number[] = (() => {
  const codes = new Array<number>(CODE_LENGTHS.length);
  let code = 0;
  let length = CODE_LENGTHS[BY_CODE[0]!]!;
  for (const symbol of BY_CODE) {
    code *= 2 ** (CODE_LENGTHS[symbol]! - length);
    length = CODE_LENGTHS[symbol]!;
    codes[symbol] = code++;
  }
  return codes;
})();

// Per length: the first code of that length, and where its symbols start in BY_CODE.
const firstCode = new Array<number>(MAX_LENGTH + 1).fill(0);
const count = new Array<number>(MAX_LENGTH + 1).fill(0);
const firstIndex = new Array<number>(MAX_LENGTH + 1).fill(0);
BY_CODE.forEach((symbol, i) => {
  const length = CODE_LENGTHS[symbol]!;
  if (count[length]++ === 0) {
    firstCode[length] = CODES[symbol]!;
    firstIndex[length] = i;
  }
});

export class HuffmanError extends Error {}

/**
 * Decodes a Huffman-coded string literal into a latin1 string (one char per octet). Throws on
 * the EOS symbol, on padding longer than 7 bits, and on padding that is not the most
 * significant bits of EOS (all ones), as RFC 7541 §5.2 requires.
 */
export function huffmanDecode(input: Uint8Array): string {
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const offset = code - firstCode[length]!;
      if (count[length]! > 0 && offset >= 0 && offset < count[length]!) {
        const symbol = BY_CODE[firstIndex[length]! + offset]!;
        if (symbol === EOS) throw new HuffmanError('EOS symbol in a Huffman-coded string');
        out.push(symbol);
        code = 0;
        length = 0;
      } else if (length >= MAX_LENGTH) {
        throw new HuffmanError('invalid Huffman code');
      }
    }
  }
  if (length > 7) throw new HuffmanError('Huffman padding longer than 7 bits');
  if (code !== 2 ** length - 1) throw new HuffmanError('Huffman padding is not the prefix of EOS');
  return latin1(out);
}

function latin1(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.slice(i, i + 4096));
  return s;
}
