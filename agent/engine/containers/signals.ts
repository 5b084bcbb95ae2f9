import { constants } from 'node:os';
import { badRequest } from '../errors';

/** "SIGTERM", "TERM", "term" or "15" → a signal number; 400 when unknown. */
export function parseSignal(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n > 0 && n <= 64) return n;
    throw badRequest(`Invalid signal: ${sig}`);
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (!n) throw badRequest(`Invalid signal: ${sig}`);
  return n;
}
