// The client-to-server half of a connection whose client sends an `:authority` node:http2
// refuses. Every frame passes as it came except header blocks: those are decoded against the
// client's own HPACK context and re-encoded without the receiver's dynamic table (so the two
// tables never need to agree), with a request's refused or missing `:authority` replaced.

import { acceptedAuthority, SUBSTITUTE_AUTHORITY } from './authority.js';
import {
  ConnectionError,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  HeaderBlockAssembler,
  headersFrames,
  type Frame,
} from './frames.js';
import { encodeHeaderBlock, HpackDecoder, HpackError, type HeaderField } from './hpack.js';

export interface FilterLimits {
  /** SETTINGS_HEADER_TABLE_SIZE the server advertises: the client's encoder stays within it. */
  readonly headerTableSize: number;
  readonly maxFrameSize: number;
  /** Bound on one decoded header list; a client above it is cut off (ENHANCE_YOUR_CALM). */
  readonly maxHeaderListSize: number;
}

export class AuthorityFilter {
  private readonly reader: FrameReader;
  private readonly blocks: HeaderBlockAssembler;
  private readonly decoder: HpackDecoder;
  /** Highest stream a request was forwarded on, for the GOAWAY of a connection error. */
  lastStreamId = 0;
  private replacedOnce = false;

  constructor(
    private readonly limits: FilterLimits,
    /** Told the first refused authority replaced (undefined: the request had none). */
    private readonly onReplaced: (original: string | undefined) => void,
    /** The client's ACK of the front's own SETTINGS is still to come: it is not node:http2's to see. */
    private ackPending = false,
  ) {
    this.reader = new FrameReader(limits.maxFrameSize);
    // A literal encodes in fewer octets than it counts in a header list (RFC 7541 §4.1 adds 32).
    this.blocks = new HeaderBlockAssembler(limits.maxHeaderListSize);
    this.decoder = new HpackDecoder(limits.headerTableSize, limits.maxHeaderListSize);
  }

  /** The bytes to forward for `chunk` (frames after the client preface); throws ConnectionError. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (const frame of this.reader.push(chunk)) this.frame(frame, out);
    return out;
  }

  private frame(frame: Frame, out: Buffer[]): void {
    if (this.ackPending && frame.type === FrameType.SETTINGS && frame.flags & Flag.ACK) {
      this.ackPending = false;
      return;
    }
    if (frame.type !== FrameType.HEADERS && frame.type !== FrameType.CONTINUATION && !this.blocks.inBlock) {
      out.push(frame.raw);
      return;
    }
    const block = this.blocks.accept(frame);
    if (!block) return;
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block.fragment);
    } catch (e) {
      if (e instanceof HpackError)
        throw new ConnectionError(
          ErrorCode.COMPRESSION_ERROR,
          `header block of stream ${block.streamId}: ${e.message}`,
        );
      throw e;
    }
    if (fields.some((f) => f.name === ':method')) {
      fields = this.withAcceptedAuthority(fields);
      this.lastStreamId = Math.max(this.lastStreamId, block.streamId);
    }
    out.push(
      ...headersFrames(
        encodeHeaderBlock(fields),
        block.streamId,
        block.endStream,
        block.priority,
        this.limits.maxFrameSize,
      ),
    );
  }

  private withAcceptedAuthority(fields: HeaderField[]): HeaderField[] {
    const at = fields.findIndex((f) => f.name === ':authority');
    const original = at >= 0 ? fields[at]!.value : undefined;
    if (original !== undefined && acceptedAuthority(original)) return fields;
    if (!this.replacedOnce) {
      this.replacedOnce = true;
      this.onReplaced(original);
    }
    const substitute: HeaderField = { name: ':authority', value: SUBSTITUTE_AUTHORITY, sensitive: false };
    if (at >= 0) return fields.map((f, i) => (i === at ? substitute : f));
    // Pseudo-headers come first (RFC 9113 §8.3): put it after the last of them.
    const firstRegular = fields.findIndex((f) => !f.name.startsWith(':'));
    const pos = firstRegular < 0 ? fields.length : firstRegular;
    return [...fields.slice(0, pos), substitute, ...fields.slice(pos)];
  }
}
