// Next.js bundles route handlers apart from the modules tsx loads for server/main.ts,
// so a module-level singleton would exist twice. What both halves share is kept in one
// map on globalThis, one value per key. This module knows nothing of what the values
// are, so importing it pulls in nothing (no db → hub → auth → db cycle through here).

const SLOTS = Symbol.for('berth.process-singletons');

function slots(): Map<string, unknown> {
  const g = globalThis as { [SLOTS]?: Map<string, unknown> };
  return (g[SLOTS] ??= new Map());
}

/** The process's one value under `key`, made by `create` the first time anyone asks. One key, one type: each key has a single owner module. */
export function berthGlobal<T>(key: string, create: () => T): T {
  const s = slots();
  if (!s.has(key)) s.set(key, create());
  return s.get(key) as T;
}
