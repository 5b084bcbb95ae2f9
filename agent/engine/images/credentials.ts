// Registry credentials the agent keeps from `docker login` (POST /auth) and the
// dashboard's login command, per registry host, in one 0600 file of the image store
// (whose directory is 0700). Pulls and pushes that bring no credentials of their own
// use them. The docker CLI's `logout` never tells the daemon; the link's logout does.
//
// Exports: RegistryCredentials.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write';
import { EngineError } from '../errors';
import { DEFAULT_DOMAIN, tryParseReference } from './reference';
import type { RegistryAuth } from '../types';

interface CredentialsFile {
  auths: Record<string, { username: string; password: string }>;
}

export class RegistryCredentials {
  private data: CredentialsFile = { auths: {} };

  constructor(readonly path: string) {}

  /**
   * The registry host of what `docker login` sends as serveraddress: "127.0.0.1:5000",
   * "https://registry.example:5000/", or Docker Hub's "https://index.docker.io/v1/".
   */
  static domainOf(serverAddress: string): string {
    let s = serverAddress.trim();
    if (s === '') return DEFAULT_DOMAIN;
    s = s.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === DEFAULT_DOMAIN) return DEFAULT_DOMAIN;
    const r = tryParseReference(`${s}/x`);
    if (!r || r.domain !== s) throw new EngineError(400, `invalid registry address ${JSON.stringify(serverAddress)}`);
    return s;
  }

  load(): void {
    if (!existsSync(this.path)) return;
    try {
      const raw = JSON.parse(readFileSync(this.path, 'utf8')) as CredentialsFile;
      if (raw && typeof raw.auths === 'object') this.data = raw;
    } catch {
      console.error(`berth: ${this.path} is unreadable: stored registry logins are ignored until the next login`);
    }
  }

  private save(): void {
    if (Object.keys(this.data.auths).length === 0) rmSync(this.path, { force: true });
    else writeFileAtomic(this.path, JSON.stringify(this.data), { mode: 0o600 });
  }

  get(domain: string): RegistryAuth | undefined {
    const a = this.data.auths[domain];
    return a ? { username: a.username, password: a.password } : undefined;
  }

  set(domain: string, auth: { username: string; password: string }): void {
    this.data.auths[domain] = { username: auth.username, password: auth.password };
    this.save();
  }

  /** False when there was no login for `domain`. */
  remove(domain: string): boolean {
    if (!this.data.auths[domain]) return false;
    delete this.data.auths[domain];
    this.save();
    return true;
  }

  /** Registry hosts with a stored login (never the secrets). */
  domains(): string[] {
    return Object.keys(this.data.auths).sort();
  }
}
