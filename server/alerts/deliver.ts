// Webhook delivery: the three shapes receivers take, and sending with a deadline and retries
// with back-off. Nothing here is awaited by the hub: a slow or dead receiver delays only its
// own deliveries, and at most MAX_CONCURRENT are in flight (the rest wait their turn).
import type { WebhookKind } from './rules';

/**
 * The generic JSON body (Content-Type: application/json), documented in README.md:
 *   { "version": 1, "status": "firing" | "resolved" | "test", "alert": { id, title, subject, openedAt, resolvedAt },
 *     "rule": { id, name, kind }, "team": { id }, "host": { id, name } | null,
 *     "container": { id, name } | null, "detail": { … what fired it: exitCode, value, line, seq … } }
 */
export interface AlertPayload {
  version: 1;
  status: 'firing' | 'resolved' | 'test';
  alert: { id: string; title: string; subject: string; openedAt: string; resolvedAt: string | null };
  rule: { id: string; name: string; kind: string };
  team: { id: string };
  host: { id: string; name: string } | null;
  container: { id: string; name: string } | null;
  detail: Record<string, unknown>;
}

export interface WebhookRequest {
  headers: Record<string, string>;
  body: string;
}

const MARK = { firing: '[FIRING]', resolved: '[RESOLVED]', test: '[TEST]' } as const;

/** The text line Slack and ntfy show. */
export function alertText(p: AlertPayload): string {
  const extra = typeof p.detail.line === 'string' ? `\n${p.detail.line}` : '';
  return `${MARK[p.status]} ${p.alert.title} (rule "${p.rule.name}")${extra}`;
}

// HTTP header values are Latin-1 without control characters: ntfy's Title takes what fits.
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 250);

export function webhookRequest(kind: WebhookKind, p: AlertPayload): WebhookRequest {
  if (kind === 'slack') return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: alertText(p) }) };
  if (kind === 'ntfy') {
    return {
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        Title: headerSafe(`${p.status === 'resolved' ? 'Resolved' : p.status === 'test' ? 'Test' : 'Alert'}: ${p.rule.name}`),
        Priority: p.status === 'firing' ? '4' : '3',
        Tags: p.status === 'firing' ? 'warning,berth' : p.status === 'resolved' ? 'white_check_mark,berth' : 'test_tube,berth',
      },
      body: alertText(p),
    };
  }
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(p) };
}

export interface DeliveryOptions {
  timeoutMs: number;
  attempts: number;
  /** First retry after this; each further one waits four times longer. */
  backoffMs: number;
}

export function deliveryOptions(env: Record<string, string | undefined> = process.env): DeliveryOptions {
  const num = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) && Number(v) >= 0 ? Number(v) : d);
  return { timeoutMs: num(env.BERTH_ALERT_TIMEOUT_MS, 10_000), attempts: Math.max(1, num(env.BERTH_ALERT_ATTEMPTS, 5)), backoffMs: num(env.BERTH_ALERT_BACKOFF_MS, 2_000) };
}

/** One POST; resolves with "ok <status>" or rejects with what went wrong. Redirects are not followed (the URL is the one an admin set). */
export async function postOnce(url: string, req: WebhookRequest, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'user-agent': 'berth-alerts/1', ...req.headers }, body: req.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') throw new Error(`no answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`);
    throw new Error(e.cause?.code ?? e.cause?.message ?? e.message);
  }
  // The body is not needed; reading it frees the connection.
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
  return `ok ${res.status}`;
}

const MAX_CONCURRENT = 8;
let running = 0;
const waiting: Array<() => void> = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * Sends with retries; `onAttempt` hears every attempt's outcome (for the dashboard's "last
 * delivery"). Resolves with the last outcome: "ok …" or "error: …".
 */
export async function deliver(url: string, req: WebhookRequest, o: DeliveryOptions, onAttempt: (attempt: number, result: string) => void | Promise<void>): Promise<string> {
  let result = 'error: not sent';
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    try {
      result = await slot(() => postOnce(url, req, o.timeoutMs));
    } catch (err) {
      result = `error: ${(err as Error).message}`;
    }
    await onAttempt(attempt, result);
    if (result.startsWith('ok')) return result;
    if (attempt < o.attempts) await new Promise((r) => setTimeout(r, o.backoffMs * 4 ** (attempt - 1)).unref());
  }
  return result;
}
