// Bounds on what callers may make the shim hold. Every one is far above what kubelet or crictl
// does on a node (tens of connections' worth of calls, image names under 1 KiB, requests of a
// few KiB) and low enough that the worst case of all of them together fits a V8 heap smaller
// than the systemd unit's memory bound gives V8 (--max-old-space-size=128: a 176 MiB heap limit,
// against about 260 MiB under the unit).
//
//   | bound                                  | value   | beyond it                                  |
//   |----------------------------------------|---------|--------------------------------------------|
//   | client connections                     | 256     | new connections are closed at once          |
//   | connections yet to send their preface  | 32      | the oldest of them is closed                |
//   | time to send the HTTP/2 preface        | 5 s     | closed                                      |
//   | streams per connection (HTTP/2 setting)| 1000    | the client queues (gRPC) or gets REFUSED    |
//   | calls in flight, all connections       | 2048    | RESOURCE_EXHAUSTED at once                  |
//   | request bytes held by intercepted calls| 32 MiB  | RESOURCE_EXHAUSTED (ImageStatus: no rewrite)|
//   | an image reference                     | 4096 B  | INVALID_ARGUMENT before the rest is read    |
//   | reading an intercepted request         | 30 s or the caller's deadline | DEADLINE_EXCEEDED |
//   | a connection with no call in flight    | `idleTimeout` (1m) | closed with GOAWAY (clients redial) |
//
// The idle timeout also ends connections nghttp2 has given up on (after a flood of stream
// resets it stops reading, so a client's later disconnect is never seen and the socket stays).

export const MAX_CONNECTIONS = 256;
/**
 * Connections that have not sent their preface yet (a gRPC client sends it as it connects):
 * silent ones cannot fill the connection cap and keep kubelet out.
 */
export const MAX_CONNECTIONS_BEFORE_PREFACE = 32;
export const PREFACE_TIMEOUT_MS = 5_000;
export const MAX_STREAMS_PER_CONNECTION = 1000;
export const MAX_ACTIVE_CALLS = 2048;
/** Two requests of CRI's largest message size at once, or tens of thousands of real ones. */
export const MAX_HELD_REQUEST_BYTES = 32 * 1024 * 1024;
/** Docker's own limits (255-byte name, 128-byte tag, a digest) come to well under 1 KiB. */
export const MAX_REFERENCE_BYTES = 4096;
export const REQUEST_READ_MS = 30_000;

/** A count of bytes shared by many holders, refused past its limit. */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Takes `n` bytes; false (and nothing taken) when that would pass the limit. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }

  get held(): number {
    return this.used;
  }
}
