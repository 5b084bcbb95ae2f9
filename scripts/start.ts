// `npm start`: open and migrate the database, build the Next app when its sources
// changed, run the control plane in this process, and keep a local agent for this
// machine running (started again when it dies), enrolled into the Default team on the
// first start and reconnecting with its stored credential afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentialPath, readCredential } from '../agent/link/credential';
import { hashSecret, newSecret } from '../server/auth/tokens';
import { listenPort } from '../server/db/config';
import { db } from '../server/db';
import { DEFAULT_TEAM } from '../server/db/seed';
import { serverTls } from '../server/http/tls';
import { prepareDatabase, prepareEnvironment, startServer } from '../server/main';
import { ensureAgentBundle } from './agent-bundle.mjs';
import { ensureFreshBuild } from './next-build';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_RESTART_MIN_MS = 1_000;
const AGENT_RESTART_MAX_MS = 60_000;
/** An agent that ran this long was not failing at start; its next restart is quick again. */
const AGENT_HEALTHY_MS = 60_000;

/** A join token for this machine's own agent, made straight in the database. */
async function localJoinToken(): Promise<string> {
  const prisma = db();
  const team = await prisma.team.findUniqueOrThrow({ where: { name: DEFAULT_TEAM } });
  const token = newSecret('bjt');
  await prisma.joinToken.create({
    data: { tokenHash: hashSecret(token), teamId: team.id, name: os.hostname(), expiresAt: new Date(Date.now() + 10 * 60_000) },
  });
  return token;
}

/**
 * Whether the local agent can reconnect with the credential in its root. One naming a
 * host this database never had (the data dir was wiped, or the root was enrolled with
 * another server) would be refused forever, so it is moved aside and the agent enrols
 * again. A revoked host stays revoked: only an admin may bring it back.
 */
async function hasUsableCredential(agentRoot: string): Promise<boolean> {
  const cred = readCredential(agentRoot);
  if (!cred) return false;
  if (await db().host.findUnique({ where: { id: cred.hostId }, select: { id: true } })) return true;
  const file = credentialPath(agentRoot);
  const aside = `${file}.unknown-${Date.now()}`;
  renameSync(file, aside);
  console.error(`berth: ${file} names host ${cred.hostId}, which this database does not know; moved it to ${aside} and enrolling the local agent again`);
  return false;
}

async function main(): Promise<void> {
  const port = listenPort();
  prepareEnvironment(port);
  // Before the (slow) build, so a database that cannot be opened fails at once;
  // startServer finds it open and does not migrate again.
  await prepareDatabase();
  if (process.env.BERTH_DEV !== '1') ensureFreshBuild();
  const server = await startServer({ port });

  const agentRoot = path.resolve(process.env.BERTH_AGENT_ROOT || '/var/lib/berth');
  const dockerSocket = path.resolve(process.env.BERTH_DOCKER_SOCKET || '/run/berth/docker.sock');
  // Setup built it already under `npm start`; this covers `tsx scripts/start.ts` run alone.
  const bundle = await ensureAgentBundle((msg: string) => console.error(`berth: ${msg}`));
  // Under TLS the local agent pins this server's certificate, as the dashboard's join command does.
  const fingerprint = serverTls()?.fingerprint;
  const baseArgs = [bundle, '--root', agentRoot, '--docker-socket', dockerSocket, '--server', server.url, ...(fingerprint ? ['--server-fingerprint', fingerprint] : [])];

  let agent: ChildProcess | undefined;
  let stopping = false;
  let restartDelay = AGENT_RESTART_MIN_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  // The local host should not stay offline because its agent died: start it again, backing
  // off while it keeps failing at once (a broken install) so the log is not flooded.
  const launch = async (): Promise<void> => {
    const args = [...baseArgs];
    if (!(await hasUsableCredential(agentRoot))) args.push('--token', await localJoinToken());
    if (stopping) return;
    // Plain node on the compiled bundle, as bin/berth-agent runs it: no transpiler in the
    // agent, and the pid we hold is the agent itself.
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    agent = child;
    const startedAt = Date.now();
    console.log(`berth: local agent pid ${child.pid} (root ${agentRoot}, docker socket ${dockerSocket})`);
    child.on('exit', (code, signal) => {
      if (agent === child) agent = undefined;
      if (stopping) return;
      if (Date.now() - startedAt > AGENT_HEALTHY_MS) restartDelay = AGENT_RESTART_MIN_MS;
      console.error(`berth: local agent exited (${signal ?? `code ${code}`}); starting it again in ${Math.round(restartDelay / 1000)} s`);
      restartTimer = setTimeout(() => {
        restartTimer = undefined;
        launch().catch((err: unknown) => console.error(`berth: cannot start the local agent again: ${(err as Error)?.message ?? err}`));
      }, restartDelay);
      restartDelay = Math.min(restartDelay * 2, AGENT_RESTART_MAX_MS);
    });
  };
  await launch();

  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    if (restartTimer) clearTimeout(restartTimer);
    if (agent?.pid) {
      try {
        process.kill(agent.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const forceExit = setTimeout(() => process.exit(code), 5000);
    forceExit.unref();
    void server.close().finally(() => {
      if (!agent) process.exit(code);
      agent.once('exit', () => process.exit(code));
    });
  };
  process.once('SIGINT', () => shutdown(0));
  process.once('SIGTERM', () => shutdown(0));
  // Last resort: never leave the child behind, whatever ends this process.
  process.once('exit', () => {
    if (agent?.pid) {
      try {
        process.kill(agent.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

main().catch((err: unknown) => {
  console.error(`berth: cannot start: ${(err as Error)?.stack ?? err}`);
  process.exit(1);
});
