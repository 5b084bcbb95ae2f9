// Asks registries what a tag names now, politely: one answer per reference is kept for a
// TTL (errors for less), one question per reference is in flight at a time however many ask,
// and a registry that answered 429 is left alone until its Retry-After has passed, even by
// "check now".
//
// Exports: UpdateChecker, CheckResult, updateStateOf.
import type { ContainerRecord, ImageRecord, RegistryAuth } from '../types';
import type { ContainerUpdateInfo } from '../../../protocol/updates';
import { UPDATE_CHECK_TTL_MS } from '../../../protocol/updates';
import { parseReference, repoName, tryParseReference } from '../images/reference';
import { RegistryRateLimited } from '../images/registry';

export interface CheckResult {
  digest?: string;
  error?: string;
  /** ms since the epoch. */
  checkedAt: number;
}

export interface CheckerOptions {
  ttlMs?: number;
  /** How long a failed check is kept (not to ask a broken registry every page load). */
  errorTtlMs?: number;
  /** Wait after a 429 that says no Retry-After. */
  defaultBackoffMs?: number;
  now?: () => number;
}

/** "domain/path:tag" of a tag reference, or undefined for a digest or an id. */
function tagKey(ref: string): string | undefined {
  const r = tryParseReference(ref);
  if (!r || r.digest) return undefined;
  return `${repoName(r)}:${r.tag ?? 'latest'}`;
}

export class UpdateChecker {
  private readonly cache = new Map<string, CheckResult>();
  private readonly inflight = new Map<string, Promise<CheckResult>>();
  /** Registry domain → ms until which it is not asked (after a 429). */
  private readonly blocked = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly lookup: (ref: string, auth?: RegistryAuth) => Promise<string>,
    private readonly opts: CheckerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  cached(ref: string): CheckResult | undefined {
    const k = tagKey(ref);
    return k ? this.cache.get(k) : undefined;
  }

  /** The registry's digest for `ref`'s tag: cached while fresh unless `force`, shared while in flight. */
  check(ref: string, opts: { auth?: RegistryAuth; force?: boolean } = {}): Promise<CheckResult> {
    const k = tagKey(ref);
    if (!k) return Promise.resolve({ error: 'not a tag reference', checkedAt: this.now() });
    const running = this.inflight.get(k);
    if (running) return running;
    const hit = this.cache.get(k);
    const ttl = hit?.error ? (this.opts.errorTtlMs ?? 5 * 60_000) : (this.opts.ttlMs ?? UPDATE_CHECK_TTL_MS);
    if (hit && !opts.force && this.now() - hit.checkedAt < ttl) return Promise.resolve(hit);
    const domain = parseReference(ref).domain;
    const until = this.blocked.get(domain) ?? 0;
    if (this.now() < until) {
      const r: CheckResult = { error: `${domain} asked for no more requests until ${new Date(until).toISOString()} (429); not asked again before then`, checkedAt: hit?.checkedAt ?? this.now() };
      return Promise.resolve(hit?.digest ? { ...hit, error: r.error } : r);
    }
    const p = (async (): Promise<CheckResult> => {
      try {
        const digest = await this.lookup(ref, opts.auth);
        const r = { digest, checkedAt: this.now() };
        this.cache.set(k, r);
        return r;
      } catch (err) {
        if (err instanceof RegistryRateLimited) this.blocked.set(domain, this.now() + (err.retryAfterMs ?? this.opts.defaultBackoffMs ?? 10 * 60_000));
        const r = { error: (err as Error).message, checkedAt: this.now() };
        this.cache.set(k, r);
        return r;
      } finally {
        this.inflight.delete(k);
      }
    })();
    this.inflight.set(k, p);
    return p;
  }

  /** Forgets what was learnt about `ref` (after an update pulled it, the old answer says nothing). */
  forget(ref: string): void {
    const k = tagKey(ref);
    if (k) this.cache.delete(k);
  }
}

/** Whether `rec` runs what its tag names in the registry, from the check's answer and its image's repo digests. */
export function updateStateOf(rec: ContainerRecord, img: ImageRecord | undefined, check: CheckResult | undefined): ContainerUpdateInfo {
  const base = { containerId: rec.id, name: rec.name, image: rec.image };
  const r = tryParseReference(rec.image);
  if (!r || /^(sha256:)?[a-f0-9]{64}$/.test(rec.image)) return { ...base, state: 'unknown', detail: 'made from an image id, not a tag' };
  if (r.digest) return { ...base, state: 'unknown', detail: 'pinned by digest: no tag to follow' };
  if (!img) return { ...base, state: 'unknown', detail: 'its image is no longer on the host' };
  const repo = repoName(r);
  const local = img.repoDigests.map((d) => tryParseReference(d)).filter((d) => d && d.digest && repoName(d) === repo).map((d) => d!.digest!);
  if (!local.length) return { ...base, state: 'unknown', detail: `its image was not pulled from ${repo} (built, loaded or tagged here): nothing to compare with` };
  if (!check) return { ...base, state: 'checking' };
  const at = { checkedAt: new Date(check.checkedAt).toISOString() };
  if (!check.digest) return { ...base, ...at, state: 'error', detail: check.error ?? 'no answer' };
  const state = local.includes(check.digest) ? 'up-to-date' : 'update-available';
  return { ...base, ...at, state, remoteDigest: check.digest, ...(check.error ? { detail: check.error } : {}) };
}
