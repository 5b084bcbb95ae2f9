// A signed-in page in its own browser context, watched: every Content-Security-Policy
// violation the page reports, a CSP complaint on its console and an uncaught page error
// land in `problems`, which the tests expect empty at the end.
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';

export interface WatchedPageOptions {
  /** Where the page's problems go. */
  problems: string[];
  /** Contexts made are pushed here, for the test to close. */
  contexts?: BrowserContext[];
  context?: BrowserContextOptions;
  /** Playwright's default timeout for the page. */
  timeoutMs?: number;
  /** Runs on the new context before its page opens (permissions, say). */
  prepare?: (context: BrowserContext) => Promise<void>;
}

export async function watchedPage(browser: Browser, opts: WatchedPageOptions): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, ...opts.context });
  opts.contexts?.push(context);
  await opts.prepare?.(context);
  await context.exposeFunction('__reportCsp', (v: string) => opts.problems.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCsp(v: string): void }).__reportCsp(`${location.pathname}: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`);
    });
  });
  const page = await context.newPage();
  if (opts.timeoutMs) page.setDefaultTimeout(opts.timeoutMs);
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) opts.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => opts.problems.push(`page error: ${e.message}`));
  return page;
}

/** A watched page signed in as `who` through the login page, on the hosts list. */
export async function signedInPage(browser: Browser, baseUrl: string, who: { email: string; password: string }, opts: WatchedPageOptions): Promise<Page> {
  const page = await watchedPage(browser, opts);
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email', { exact: true }).fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${baseUrl}/`);
  return page;
}
