// Which `:authority` values node:http2 (nghttp2) accepts from a client. It checks the value
// against the URI host grammar and resets the stream otherwise (and when the header is empty
// or missing); grpc-go servers such as containerd accept any value. Clients built on grpc-go
// that dial a unix socket through their own dialer (kubelet and crictl up to 1.30) send the
// socket path, which fails the check.

/** Octets nghttp2 allows in an authority: unreserved, sub-delims, ':', '[', ']', '%' (no '@': no userinfo). */
const ALLOWED = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=:[]%") ALLOWED[c.charCodeAt(0)] = 1;
for (let c = 0; c < 256; c++) {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) ALLOWED[c] = 1;
}

/** The authority the shim puts in place of one node:http2 would refuse. */
export const SUBSTITUTE_AUTHORITY = 'localhost';

/** True when node:http2 accepts `value` (a latin1 string) as `:authority`. */
export function acceptedAuthority(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!ALLOWED[value.charCodeAt(i) & 0xff] || value.charCodeAt(i) > 0xff) return false;
  }
  return true;
}
