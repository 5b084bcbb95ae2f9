// The proxy's route table (server/proxy/routes.ts) against the agent's own Docker API routes
// (agent/dockerapi/server.ts): every route the agent serves has exactly its classification
// here, so a route the agent learns fails this test until someone decides who may use it
// (until then the proxy refuses it: deny by default). And the classification of requests
// that try to look like something else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { API_ROUTES, apiTarget, classify } from '../../server/proxy/routes';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** method + pattern source of every route in the agent's table, and the hijacked attach it matches apart. */
function agentRoutes(): string[] {
  const src = readFileSync(path.join(ROOT, 'agent/dockerapi/server.ts'), 'utf8');
  const table = src.slice(src.indexOf('const routes: Route[] = ['), src.indexOf('\n];', src.indexOf('const routes: Route[] = [')));
  const out: string[] = [];
  for (const m of table.matchAll(/\{ method: '([A-Z]+)', pattern: (\/.+?\/|EXEC_START), handler/g)) {
    out.push(`${m[1]} ${m[2] === 'EXEC_START' ? /^\/exec\/([^/]+)\/start$/.source : m[2].slice(1, -1)}`);
  }
  const attach = /const ATTACH = \/(.+)\/;/.exec(src);
  assert.ok(attach, 'the agent matches attach apart');
  out.push(`POST ${attach[1]}`);
  return out;
}

test('every route the agent serves is in the proxy\'s table, and the table has nothing the agent does not serve', () => {
  const agent = agentRoutes();
  assert.ok(agent.length > 50, `found ${agent.length} agent routes`);
  const ours = new Set(API_ROUTES.map((r) => `${r.method} ${r.pattern.source}`));
  const missing = agent.filter((r) => !ours.has(r));
  assert.deepEqual(missing, [], 'agent routes the proxy does not classify');
  const extra = [...ours].filter((r) => !agent.includes(r));
  assert.deepEqual(extra, [], 'proxy routes the agent does not serve');
});

test('each route\'s sample is classified as that route', () => {
  for (const r of API_ROUTES) {
    const c = classify(r.method, apiTarget(`/v1.45${r.sample}`)!);
    assert.ok(c, r.id);
    assert.ok(c.routes.includes(r), `${r.id}: ${c.routes.map((x) => x.id).join(', ')}`);
    assert.equal(c.need, r.need, r.id);
  }
});

test('reads are viewer calls and not audited; changes are operator calls and audited', () => {
  const c = (m: string, p: string) => classify(m, apiTarget(p)!);
  assert.deepEqual([c('GET', '/v1.50/containers/json')?.need, c('GET', '/v1.50/containers/json')?.mutating], ['viewer', false]);
  assert.deepEqual([c('POST', '/v1.50/containers/create')?.need, c('POST', '/v1.50/containers/create')?.mutating], ['operator', true]);
  assert.equal(c('POST', '/auth')?.need, 'admin');
  // Attach is a read without stdin, an operator's call with it.
  assert.equal(c('POST', '/v1.50/containers/x/attach?stream=1&stdout=1')?.need, 'viewer');
  assert.equal(c('POST', '/v1.50/containers/x/attach?stream=1&stdin=1&stdout=1')?.need, 'operator');
  assert.equal(c('POST', '/v1.50/containers/x/attach?stdin=true')?.need, 'operator');
});

test('what the agent would read as another route is classified as that route', () => {
  const c = (m: string, p: string) => classify(m, apiTarget(p)!);
  // Percent-encoding, dot segments and trailing slashes are read as the agent reads them.
  assert.equal(c('DELETE', '/v1.50/containers/abc/')?.routes[0].id, 'containers.remove');
  assert.equal(c('POST', '/v1.50/containers/abc/%73tart')?.routes[0].id, 'containers.start');
  assert.equal(c('POST', '/v1.50/images/json/../../containers/create')?.need, 'operator');
  assert.equal(c('POST', '/v1.50/containers/abc/json/../start')?.routes[0].id, 'containers.start');
  // An image name with slashes: every route that matches counts, the most demanding decides.
  assert.equal(c('GET', '/images/127.0.0.1%3A5000%2Fbusybox/json')?.routes[0].id, 'images.inspect');
  assert.equal(c('GET', '/images/a/get')?.need, 'operator');
  // Not a route: refused by the proxy whoever asks.
  for (const [m, p] of [['GET', '/swarm'], ['POST', '/session'], ['PATCH', '/containers/json'], ['GET', '/containers/a/b/json'], ['POST', '/grpc']]) assert.equal(c(m, p), null, `${m} ${p}`);
  assert.equal(apiTarget('/containers/%E0%A4%A/json'), null);
});
