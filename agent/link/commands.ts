// Carries out the control plane's commands on the engine. Every command gets an answer:
// engine errors travel back with their status so the dashboard can tell "not found" from "broken".
import { createHash } from 'node:crypto';
import type { LogRuleWatcher } from './alerts';
import { EngineError } from '../engine/errors';
import type { Engine, PullProgress } from '../engine/types';
import { streamLogs } from './log-stream';
import type { z } from 'zod';
import { agentCommandSchema, type AgentCommand, type CommandResult, type LogBatch, type LogSearchChunk } from '../../protocol/agent-link';
import { summarizeContainer, summarizeImage } from '../engine/summaries';
import { containerLive } from './stats';
import type { Terminals } from './terminal';
import type { DockerTunnels } from './docker-tunnel';
import type { Stacks } from '../engine/stacks';
import { buildStream, cancelSave, loadStream, LoadStream, startSave, type LoadStreams, type SaveStreams, type SendImageData } from './image-streams';

export interface CommandContext {
  engine: Engine;
  onPullProgress: (p: { ref: string } & PullProgress) => void;
  sendLogs: (batch: LogBatch) => Promise<void>;
  /** Sends the next hits of a search; resolves on the server's ack. */
  sendLogSearch?: (chunk: LogSearchChunk) => Promise<void>;
  /** Live log subscriptions by subId; the client aborts them all when the link drops. */
  subscriptions: Map<string, AbortController>;
  /** The dashboard's terminal sessions; the client closes them all when the link drops. */
  terminals: Terminals;
  /** Sends the next piece of a save; resolves on the server's ack. */
  sendImageData: SendImageData;
  /** Saves and loads under way; the client ends them all when the link drops. */
  saves: SaveStreams;
  loads: LoadStreams;
  /** Proxied Docker API connections; the client closes them all when the link drops. */
  tunnels?: DockerTunnels;
  /** The host credential: replacing it (stored before it returns) and the one held now. */
  credential?: { rotate(credential: string): void; held(): string };
  /** Compose stacks in the agent's root. */
  stacks?: Stacks;
  /** The log-pattern alert rules this agent evaluates (agent/link/alerts.ts). */
  logRules?: LogRuleWatcher;
  /** Whether metric alert rules need this agent's readings (sent only then). */
  wantReadings?: (on: boolean) => void;
}

export function failure(err: unknown): CommandResult {
  if (err instanceof EngineError) return { ok: false, error: err.message, status: err.status };
  return { ok: false, error: err instanceof Error ? err.message : String(err), status: 500 };
}

async function pull(ctx: CommandContext, ref: string, platform?: string, progressId?: string, auth?: { username: string; password: string }) {
  const img = await ctx.engine.pullImage(ref, { platform, ...(auth ? { auth } : {}), onProgress: (p) => ctx.onPullProgress({ ref, ...(progressId ? { progressId } : {}), ...p }) });
  return summarizeImage(img);
}

/** Words for the first thing wrong with a command, naming the field. */
function badCommand(err: z.ZodError): string {
  const issue = err.issues[0];
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return `this agent does not support ${issue.keys.join(', ')} in a command`;
  if (issue.code === 'invalid_union' && where === 'op') return 'unknown command';
  return `bad command: ${where || 'command'}: ${issue.message}`;
}

export async function runCommand(ctx: CommandContext, raw: unknown): Promise<CommandResult> {
  const { engine } = ctx;
  const parsed = agentCommandSchema.safeParse(raw);
  if (!parsed.success) {
    const op = (raw as { op?: unknown } | null)?.op;
    return { ok: false, status: 400, error: `${badCommand(parsed.error)} (op ${JSON.stringify(op)})` };
  }
  const cmd: AgentCommand = parsed.data;
  try {
    switch (cmd.op) {
      case 'pull':
        return { ok: true, result: await pull(ctx, cmd.ref, cmd.platform, cmd.progressId, cmd.auth) };
      case 'push': {
        let digest = '';
        await engine.pushImage(cmd.ref, {
          ...(cmd.auth ? { auth: cmd.auth } : {}),
          onProgress: (p) => {
            if (p.aux) digest = p.aux.Digest;
            else ctx.onPullProgress({ ref: cmd.ref, ...(cmd.progressId ? { progressId: cmd.progressId } : {}), status: p.status, id: p.id, current: p.current, total: p.total });
          },
        });
        return { ok: true, result: { digest } };
      }
      case 'tag':
        return { ok: true, result: { tag: engine.tagImage(cmd.source, cmd.target) } };
      case 'pruneImages': {
        const r = engine.pruneImages({ all: cmd.all });
        return { ok: true, result: { deleted: r.deleted, spaceReclaimed: r.spaceReclaimed } };
      }
      case 'inspectImage': {
        const img = engine.inspectImage(cmd.ref);
        return { ok: true, result: { ...img, layerSizes: engine.imageLayerSizes(img) } };
      }
      case 'images.save':
        await startSave(engine, ctx.saves, cmd.streamId, cmd.refs, ctx.sendImageData);
        return { ok: true };
      case 'images.save.cancel':
        return { ok: true, result: { cancelled: cancelSave(ctx.saves, cmd.streamId) } };
      case 'images.load': {
        if (ctx.loads.has(cmd.streamId)) return { ok: false, status: 409, error: `load stream ${cmd.streamId} is already open` };
        ctx.loads.set(cmd.streamId, new LoadStream((archive) => engine.loadImages(archive)));
        return { ok: true };
      }
      case 'images.build': {
        if (ctx.loads.has(cmd.streamId)) return { ok: false, status: 409, error: `upload stream ${cmd.streamId} is already open` };
        const { op: _op, streamId, ...opts } = cmd;
        ctx.loads.set(streamId, buildStream(engine, streamId, opts, ctx.sendImageData));
        return { ok: true };
      }
      case 'images.load.chunk': {
        const l = loadStream(ctx.loads, cmd.streamId);
        try {
          await l.push(cmd.data);
        } catch (err) {
          if (ctx.loads.get(cmd.streamId) === l) ctx.loads.delete(cmd.streamId);
          throw err;
        }
        return { ok: true };
      }
      case 'images.load.end': {
        const l = loadStream(ctx.loads, cmd.streamId);
        try {
          return { ok: true, result: await l.end() };
        } finally {
          if (ctx.loads.get(cmd.streamId) === l) ctx.loads.delete(cmd.streamId);
        }
      }
      case 'images.load.cancel': {
        const l = ctx.loads.get(cmd.streamId);
        ctx.loads.delete(cmd.streamId);
        l?.fail(new EngineError(400, 'the upload was cancelled'));
        return { ok: true, result: { cancelled: !!l } };
      }
      case 'login':
        return { ok: true, result: { registry: await engine.login(cmd.server, { username: cmd.username, password: cmd.password }) } };
      case 'logout':
        return { ok: true, result: { removed: engine.logout(cmd.server) } };
      case 'logins':
        return { ok: true, result: { registries: engine.logins() } };
      case 'run': {
        // Like `docker run`: an image that is not here yet is pulled first.
        const rec = await engine.createContainer(cmd.spec, {
          pull: 'missing',
          pullOptions: { ...(cmd.auth ? { auth: cmd.auth } : {}), onProgress: (p) => ctx.onPullProgress({ ref: cmd.spec.image, ...p }) },
        });
        await engine.start(rec.id);
        return { ok: true, result: summarizeContainer(engine.inspect(rec.id)) };
      }
      case 'start':
        await engine.start(cmd.id);
        return { ok: true };
      case 'stop':
        await engine.stop(cmd.id, cmd.timeoutSec);
        return { ok: true };
      case 'restart':
        await engine.restart(cmd.id, cmd.timeoutSec);
        return { ok: true };
      case 'kill':
        await engine.kill(cmd.id, cmd.signal === undefined ? undefined : String(cmd.signal));
        return { ok: true };
      case 'pause':
        await engine.pause(cmd.id);
        return { ok: true };
      case 'unpause':
        await engine.unpause(cmd.id);
        return { ok: true };
      case 'remove':
        await engine.remove(cmd.id, { force: cmd.force });
        return { ok: true };
      case 'removeImage':
        return { ok: true, result: engine.removeImage(cmd.ref, { force: cmd.force }) };
      case 'inspect':
        return { ok: true, result: engine.inspect(cmd.id) };
      case 'stats':
        return { ok: true, result: await containerLive(engine, cmd.id) };
      case 'logs.subscribe': {
        // A kept log, or a live container; one removed since the subscription began is read from its kept log.
        let target: { id: string; name: string; kept?: boolean };
        if (cmd.kept) target = { ...engine.logBatchesOf(cmd.id, true), kept: true };
        else {
          try {
            const rec = engine.inspect(cmd.id);
            target = { id: rec.id, name: rec.name };
          } catch (err) {
            if (!(err instanceof EngineError && err.status === 404 && /^[0-9a-f]{64}$/.test(cmd.id))) throw err;
            target = { ...engine.logBatchesOf(cmd.id, true), kept: true };
          }
        }
        ctx.subscriptions.get(cmd.subId)?.abort();
        const abort = new AbortController();
        ctx.subscriptions.set(cmd.subId, abort);
        void streamLogs(engine, { subId: cmd.subId, id: target.id, kept: target.kept, tail: cmd.tail, afterSeq: cmd.afterSeq, send: ctx.sendLogs, signal: abort.signal }).finally(() => {
          if (ctx.subscriptions.get(cmd.subId) === abort) ctx.subscriptions.delete(cmd.subId);
        });
        return { ok: true, result: { subId: cmd.subId, containerId: target.id, name: target.name } };
      }
      case 'term.open':
        return { ok: true, result: ctx.terminals.open({ sessionId: cmd.sessionId, id: cmd.id, cmd: cmd.cmd, user: cmd.user, size: cmd.size }) };
      case 'term.input':
        await ctx.terminals.input(cmd.sessionId, cmd.data);
        return { ok: true };
      case 'term.resize':
        await ctx.terminals.resize(cmd.sessionId, cmd.size);
        return { ok: true };
      case 'term.close':
        ctx.terminals.close(cmd.sessionId);
        return { ok: true };
      case 'logs.page': {
        const { op: _op, id, ...req } = cmd;
        return { ok: true, result: await engine.logPage(id, req) };
      }
      case 'logs.search': {
        const { op: _op, searchId, id, ...req } = cmd;
        const send = ctx.sendLogSearch;
        if (!send) return { ok: false, status: 501, error: 'this link does not stream search results' };
        const key = `search:${searchId}`;
        ctx.subscriptions.get(key)?.abort();
        const abort = new AbortController();
        // Throws here for a bad regex or a log that is not there: the command's answer says so.
        const s = engine.searchLog(id, req, (hits, found) => send({ searchId, hits, found }), abort.signal);
        ctx.subscriptions.set(key, abort);
        void s.done
          .then(async (r) => {
            // A cancelled search says nothing more: whoever cancelled it has moved on.
            if (abort.signal.aborted) return;
            await send({ searchId, hits: [], found: r.total, done: { total: r.total, sent: r.sent, scannedBytes: r.scannedBytes, ...(r.error ? { error: r.error } : {}) } });
          })
          .catch(() => {
            // The link dropped: the server ends the search for its browser itself.
          })
          .finally(() => {
            if (ctx.subscriptions.get(key) === abort) ctx.subscriptions.delete(key);
          });
        return { ok: true, result: { searchId, containerId: s.id, name: s.name } };
      }
      case 'logs.search.cancel':
        ctx.subscriptions.get(`search:${cmd.searchId}`)?.abort();
        ctx.subscriptions.delete(`search:${cmd.searchId}`);
        return { ok: true };
      case 'logs.kept':
        return { ok: true, result: engine.keptLogList() };
      case 'logs.retention':
        return { ok: true, result: engine.logRetention(cmd.set) };
      case 'logs.unsubscribe':
        ctx.subscriptions.get(cmd.subId)?.abort();
        ctx.subscriptions.delete(cmd.subId);
        return { ok: true };
      case 'volumes.list':
        return { ok: true, result: engine.listVolumes() };
      case 'volumes.inspect':
        return { ok: true, result: engine.inspectVolume(cmd.name) };
      case 'volumes.create':
        return { ok: true, result: engine.createVolume(cmd.name || undefined, { driver: cmd.driver, options: cmd.options, labels: cmd.labels }) };
      case 'volumes.remove':
        await engine.removeVolume(cmd.name, { force: cmd.force });
        return { ok: true };
      case 'volumes.prune':
        return { ok: true, result: await engine.pruneVolumes() };
      case 'networks.list':
        return { ok: true, result: engine.listNetworks() };
      case 'networks.inspect':
        return { ok: true, result: engine.inspectNetwork(cmd.id) };
      case 'networks.create':
        return { ok: true, result: await engine.createNetwork(cmd.network) };
      case 'networks.remove':
        await engine.removeNetwork(cmd.id);
        return { ok: true };
      case 'networks.prune':
        return { ok: true, result: { deleted: await engine.pruneNetworks() } };
      case 'alerts.logRules':
        if (!ctx.logRules) throw new EngineError(501, 'this agent does not evaluate log alert rules');
        ctx.wantReadings?.(cmd.readings ?? false);
        return { ok: true, result: ctx.logRules.setRules(cmd.rules) };
      case 'updates.status':
        return { ok: true, result: await engine.imageUpdates({ auths: cmd.auths, force: cmd.force, ids: cmd.ids }) };
      case 'updates.apply':
        return {
          ok: true,
          result: await engine.updateContainerImage(cmd.id, {
            ...(cmd.healthTimeoutSec ? { healthTimeoutSec: cmd.healthTimeoutSec } : {}),
            pullOptions: { ...(cmd.auth ? { auth: cmd.auth } : {}) },
          }),
        };
      case 'updates.stack':
        if (!ctx.stacks) throw new EngineError(501, 'this agent does not run stacks');
        return { ok: true, result: await ctx.stacks.updateImages(cmd.project, { ...(cmd.auths ? { auths: cmd.auths } : {}), ...(cmd.healthTimeoutSec ? { healthTimeoutSec: cmd.healthTimeoutSec } : {}), ...(cmd.only ? { only: cmd.only } : {}) }) };
      case 'docker.open':
        if (!ctx.tunnels) throw new EngineError(501, 'this agent does not carry proxied Docker API connections');
        await ctx.tunnels.connect(cmd.tunnelId);
        return { ok: true };
      case 'docker.data':
        if (!ctx.tunnels) throw new EngineError(501, 'this agent does not carry proxied Docker API connections');
        await ctx.tunnels.write(cmd.tunnelId, cmd.data);
        return { ok: true };
      case 'docker.end':
        ctx.tunnels?.end(cmd.tunnelId);
        return { ok: true };
      case 'docker.close':
        return { ok: true, result: { closed: ctx.tunnels?.close(cmd.tunnelId) ?? false } };
      // Both before any await: a command is carried out in the order it came, so a check sent
      // after a rotation sees the rotated credential, and a rotation is never half done when the
      // link drops (the server's side of that: server/hub/rotate.ts).
      case 'credential.rotate':
        if (!ctx.credential) throw new EngineError(501, 'this agent has no host credential to rotate');
        ctx.credential.rotate(cmd.credential);
        return { ok: true };
      case 'credential.check':
        if (!ctx.credential) throw new EngineError(501, 'this agent has no host credential');
        return { ok: true, result: { hash: createHash('sha256').update(ctx.credential.held()).digest('hex') } };
      case 'stacks.list':
      case 'stacks.get':
      case 'stacks.validate':
      case 'stacks.plan':
      case 'stacks.deploy':
      case 'stacks.stop':
      case 'stacks.start':
      case 'stacks.restart':
      case 'stacks.down':
      case 'stacks.restartService':
        if (!ctx.stacks) throw new EngineError(501, 'this agent does not run stacks');
        return { ok: true, result: await stackCommand(ctx.stacks, cmd) };
    }
  } catch (err) {
    return failure(err);
  }
}

async function stackCommand(stacks: Stacks, cmd: Extract<AgentCommand, { op: `stacks.${string}` }>): Promise<unknown> {
  switch (cmd.op) {
    case 'stacks.list':
      return stacks.list();
    case 'stacks.get':
      return stacks.get(cmd.name);
    case 'stacks.validate':
      return stacks.validate(cmd.name, cmd.compose, cmd.env);
    case 'stacks.plan':
      return stacks.plan(cmd.name, cmd.compose === undefined ? undefined : { compose: cmd.compose, env: cmd.env });
    case 'stacks.deploy':
      return stacks.deploy(cmd.name, { ...(cmd.compose !== undefined ? { compose: cmd.compose, env: cmd.env ?? '' } : {}), pull: cmd.pull });
    case 'stacks.stop':
      return stacks.stop(cmd.name);
    case 'stacks.start':
      return stacks.start(cmd.name);
    case 'stacks.restart':
      return stacks.restart(cmd.name);
    case 'stacks.down':
      return stacks.down(cmd.name, { volumes: cmd.volumes, forget: cmd.forget });
    case 'stacks.restartService':
      return stacks.restartService(cmd.name, cmd.service);
  }
}
