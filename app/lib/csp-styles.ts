'use client';
// xterm.js's DOM renderer styles itself with <style> elements it creates and with
// setAttribute('style', …) on cells (true colours, selection); the page's
// Content-Security-Policy allows neither without a nonce ('unsafe-inline' is not in it),
// and a nonce cannot go on an attribute. Both are what a script does through the DOM:
// stamping the page's nonce on <style> elements created by script, and turning a script's
// style attribute into the equivalent CSSOM assignment, leave the policy's point intact
// (markup injected into the page, which never passes through these calls, stays blocked).

let installed = false;

/** The page's CSP nonce, as Next.js put it on its scripts (the attribute reads empty; the property does not). */
function pageNonce(): string {
  for (const s of Array.from(document.querySelectorAll('script'))) if (s.nonce) return s.nonce;
  return '';
}

export function allowScriptedStyles(): void {
  if (installed || typeof document === 'undefined') return;
  installed = true;
  const nonce = pageNonce();
  const setAttribute = Element.prototype.setAttribute;
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (this: Document, tag: string, options?: ElementCreationOptions) {
    const el = createElement.call(this, tag, options);
    // Before insertion: a nonce set on a <style> already in the document does not apply it.
    if (nonce && el instanceof HTMLStyleElement) setAttribute.call(el, 'nonce', nonce);
    return el;
  } as typeof Document.prototype.createElement;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string) {
    if (name.toLowerCase() === 'style' && (this instanceof HTMLElement || this instanceof SVGElement)) {
      this.style.cssText = value;
      return;
    }
    setAttribute.call(this, name, value);
  };
}
