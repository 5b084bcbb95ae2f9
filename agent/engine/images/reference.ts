// Docker image references, parsed and normalised the way the docker CLI does it
// (github.com/distribution/reference), so "busybox", "library/busybox" and
// "docker.io/library/busybox:latest" all name the same thing.
//
// Exports: parseReference, tryParseReference, Reference, repoName, fullName,
// familiarName, familiarString, DEFAULT_DOMAIN.
import { EngineError } from '../errors';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_TOTAL_MAX = 255;

export interface Reference {
  /** Registry host (with port), e.g. "docker.io" or "127.0.0.1:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  /** Defaults to "latest" when neither tag nor digest was given. */
  tag?: string;
  /** "sha256:<64 hex>" */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
// A domain component, optionally an IPv6 literal, then an optional port.
const DOMAIN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

const invalid = (why: string) => new EngineError(400, `invalid reference format: ${why}`);

/** Parses and normalises `input`; throws EngineError(400, 'invalid reference format: …'). */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.length === 0) throw invalid('reference is empty');
  if (input !== input.trim() || /\s/.test(input)) throw invalid(`"${input}" contains whitespace`);

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!ANY_DIGEST.test(digest)) throw invalid(`bad digest "${digest}" in "${input}"`);
    if (!digest.startsWith('sha256:')) throw invalid(`unsupported digest algorithm in "${input}" (only sha256)`);
    if (!SHA256_DIGEST.test(digest)) throw invalid(`bad digest "${digest}" in "${input}": sha256 wants 64 lowercase hex digits`);
  }

  // A tag is whatever follows the last ':' that comes after the last '/'.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`bad tag "${tag}" in "${input}"`);
  }
  if (rest.length === 0) throw invalid(`no repository name in "${input}"`);

  // Docker's rule for "is the first component a registry host?"
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) throw invalid(`bad registry host "${domain}" in "${input}"`);
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;

  if (path.length === 0) throw invalid(`no repository name in "${input}"`);
  for (const comp of path.split('/')) {
    if (comp.length === 0) throw invalid(`empty path component in "${input}"`);
    if (!COMPONENT.test(comp)) {
      if (COMPONENT.test(comp.toLowerCase())) throw invalid(`repository name (${path}) must be lowercase`);
      throw invalid(`repository name component "${comp}" in "${input}" may hold only [a-z0-9] joined by single '.', '_', '__' or dashes`);
    }
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_MAX) throw invalid(`repository name "${domain}/${path}" is longer than ${NAME_TOTAL_MAX} characters`);

  if (!tag && !digest) tag = 'latest';
  return { domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function tryParseReference(input: string): Reference | undefined {
  try {
    return parseReference(input);
  } catch {
    return undefined;
  }
}

/** "docker.io/library/busybox", "127.0.0.1:5000/busybox" */
export const repoName = (r: Reference) => `${r.domain}/${r.path}`;

/** The fully qualified string: "docker.io/library/busybox:latest", "h:5000/a/b@sha256:…". */
export function fullName(r: Reference): string {
  return repoName(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** Short repository name as docker shows it: "busybox", "someone/app", "127.0.0.1:5000/busybox". */
export function familiarName(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return repoName(r);
  const short = r.path.startsWith(OFFICIAL_PREFIX) && r.path.split('/').length === 2 ? r.path.slice(OFFICIAL_PREFIX.length) : r.path;
  // "docker.io/a.b/c" shortened to "a.b/c" would read back as registry a.b (the fuzz test found it): keep the domain.
  const first = short.split('/')[0];
  return short.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? repoName(r) : short;
}

/** Short form for display: "busybox:latest", "127.0.0.1:5000/busybox@sha256:…". */
export function familiarString(r: Reference): string {
  return familiarName(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}
