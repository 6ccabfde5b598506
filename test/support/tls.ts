// Throwaway self-signed certificates for the test servers, made by openssl.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Writes `<name>.key` and `<name>.crt` into `dir`: RSA 2048, valid two days, subject `cn`, and
 * 127.0.0.1 as an IP subject alternative name when `ipSan` (what a TLS client checks).
 */
export function selfSignedCert(
  dir: string,
  name: string,
  cn: string,
  ipSan = false,
): { keyFile: string; certFile: string } {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const san = ipSan ? ['-addext', 'subjectAltName=IP:127.0.0.1'] : [];
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile];
  execFileSync('openssl', [...args, '-days', '2', '-subj', `/CN=${cn}`, ...san], { stdio: 'ignore' });
  return { keyFile, certFile };
}
