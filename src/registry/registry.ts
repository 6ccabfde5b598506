// A registry is data: one immutable record built from the config, consumed by the probe,
// the rewrite engine and the CRI handlers. Nothing here does I/O.

import { DOCKER_HUB, normaliseDomain } from './reference.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface TlsOptions {
  /** Skip certificate verification (opt-in per registry; verification is on by default). */
  readonly insecureSkipVerify: boolean;
  /** PEM bundles of the CAs to trust for this registry (none: the system's). */
  readonly caFiles: readonly string[];
}

export interface Registry {
  /** The address as configured, for logs and reports. */
  readonly address: string;
  /** Domain written into rewritten references, e.g. "sealos.hub:5000" or "docker.io". */
  readonly domain: string;
  /** Path prefix of a Harbor proxy-cache project, e.g. "dockerhub-proxy"; "" when none. */
  readonly prefix: string;
  /** Origin of the registry API, e.g. "http://sealos.hub:5000", "https://registry-1.docker.io". */
  readonly apiOrigin: string;
  readonly priority: number;
  /** True when the priority came from the default rather than the config. */
  readonly priorityDefaulted: boolean;
  /** The cluster's offline registry (the top-level `address`): wins priority ties. */
  readonly offline: boolean;
  readonly credentials: Credentials | undefined;
  readonly tls: TlsOptions;
  /** The address said http:// or https://; a bare host takes its scheme from the runtime's settings. */
  readonly schemeGiven: boolean;
  /** Where the scheme and TLS settings come from (describeTrust says it for --dry-run). */
  readonly trust: Trust;
}

/**
 * Where a registry's scheme and TLS trust come from:
 *
 *   | from            | when                                                            |
 *   |-----------------|-----------------------------------------------------------------|
 *   | config          | the shim config sets caFile or insecureSkipVerify               |
 *   | http-address    | the address says http://                                        |
 *   | runtime         | the runtime's settings for the host (`source`: which file)      |
 *   | plain-http-seen | a bare host:port the runtime has no settings for answered HTTP  |
 *   | system          | none of these: HTTPS verified against the system's CAs          |
 */
export type Trust =
  | { readonly from: 'config' | 'http-address' | 'plain-http-seen' | 'system' }
  | { readonly from: 'runtime'; readonly source: string };

export function describeTrust(trust: Trust): string {
  switch (trust.from) {
    case 'config':
      return 'the shim config';
    case 'http-address':
      return 'plain HTTP (the address says http://)';
    case 'plain-http-seen':
      return 'plain HTTP (the registry answered nothing else; no runtime settings for it)';
    case 'system':
      return 'the system CAs';
    case 'runtime':
      return trust.source;
  }
}

export interface ParsedAddress {
  readonly scheme: 'http' | 'https';
  /** The address gave its scheme (else HTTPS is assumed). */
  readonly schemeGiven: boolean;
  readonly domain: string;
  readonly prefix: string;
}

/**
 * Splits a registry address: a bare host ("docker.io", "reg.example.com:5000") or a URL
 * ("http://sealos.hub:5000", "https://harbor.corp/dockerhub-proxy"). `http://` means plain
 * HTTP; anything else HTTPS. Returns undefined when the host is missing or the scheme unknown.
 */
export function parseRegistryAddress(address: string): ParsedAddress | undefined {
  let rest = address.trim();
  let scheme: 'http' | 'https' = 'https';
  const sep = rest.indexOf('://');
  if (sep >= 0) {
    const given = rest.slice(0, sep).toLowerCase();
    if (given !== 'http' && given !== 'https') return undefined;
    scheme = given;
    rest = rest.slice(sep + 3);
  }
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = slash >= 0 ? rest.slice(0, slash) : rest;
  const prefix = slash >= 0 ? rest.slice(slash + 1).replace(/^\/+/, '') : '';
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(host)) return undefined;
  if (prefix !== '' && !/^[a-z0-9._/-]+$/.test(prefix)) return undefined;
  return { scheme, schemeGiven: sep >= 0, domain: normaliseDomain(host.toLowerCase()), prefix };
}

/** An address as it may be printed: userinfo ("user:password@") masked, whatever else it holds. */
export function redactAddress(address: string): string {
  return address.replace(
    /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/@]*@/,
    (_, scheme: string | undefined) => `${scheme ?? ''}***@`,
  );
}

/** The host the registry API is served from: Docker Hub's API lives on registry-1.docker.io. */
export function apiOrigin(parsed: ParsedAddress): string {
  const host = parsed.domain === DOCKER_HUB ? 'registry-1.docker.io' : parsed.domain;
  return `${parsed.scheme}://${host}`;
}

/** The domain the Go image-cri-shim prints for an address (Docker Hub as index.docker.io). */
export function displayDomain(registry: Registry): string {
  return registry.domain === DOCKER_HUB ? 'index.docker.io' : registry.domain;
}

/** A short identity for logs and metric labels: never includes credentials. */
export function registryLabel(registry: Registry): string {
  return registry.prefix ? `${registry.domain}/${registry.prefix}` : registry.domain;
}
