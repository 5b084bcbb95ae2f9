// Security headers for every answer of the control plane: pages, API routes, static
// files and socket.io. Pages get a Content-Security-Policy with a fresh nonce per
// request; Next.js finds the nonce in the request's own Content-Security-Policy header
// and puts it on every script and style it emits, which is why the custom server sets
// that header on the request as well as on the response.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Headers that do not depend on the request. */
export const STATIC_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  // Dashboard URLs name hosts and containers; no other site needs to see them.
  'Referrer-Policy': 'no-referrer',
  // frame-ancestors says the same to browsers that read CSP; this is for those that do not.
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** For answers that are data, never a document: nothing may load from or frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

export function pageCsp(nonce: string, dev: boolean): string {
  return [
    "default-src 'self'",
    // 'strict-dynamic': the chunks Next's nonce'd scripts load are trusted through them.
    // Dev mode's React uses eval for its error overlay and stacks; production needs none.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    // Dev mode injects styles without a nonce (the error overlay, hot reload).
    `style-src 'self' ${dev ? "'unsafe-inline'" : `'nonce-${nonce}'`}`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function isApi(url: string | undefined): boolean {
  return !!url && (url.startsWith('/api/') || url.startsWith('/socket.io/'));
}

/** Sets the headers on `res`, and for pages the CSP on `req` too, for Next to read its nonce from. */
export function applySecurityHeaders(req: IncomingMessage, res: ServerResponse, dev: boolean): void {
  for (const [k, v] of Object.entries(STATIC_SECURITY_HEADERS)) res.setHeader(k, v);
  if (isApi(req.url)) {
    // A client's own CSP header must not reach Next: it would take a nonce from it.
    delete req.headers['content-security-policy'];
    delete req.headers['content-security-policy-report-only'];
    res.setHeader('Content-Security-Policy', API_CSP);
    return;
  }
  const csp = pageCsp(randomBytes(18).toString('base64'), dev);
  req.headers['content-security-policy'] = csp;
  delete req.headers['content-security-policy-report-only'];
  res.setHeader('Content-Security-Policy', csp);
}

/** The same for engine.io's own answers (its 'initial_headers' and 'headers' events). */
export function addSocketSecurityHeaders(headers: OutgoingHttpHeaders): void {
  Object.assign(headers, STATIC_SECURITY_HEADERS, { 'Content-Security-Policy': API_CSP });
}
