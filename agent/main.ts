// The agent's command line: open the engine, serve the Docker API on a unix socket,
// and (with --server) keep a link to the control plane.
import { openEngine } from './engine/index';
import { startDockerApi, type DockerApiServer } from './dockerapi/server';
import { startLink, type Link } from './link/client';
import { EnrollError } from './link/enroll';
import { USAGE, parseFlags, type AgentFlags } from './flags';

async function main(): Promise<void> {
  let flags: AgentFlags | 'help';
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`berth-agent: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (flags === 'help') {
    console.log(USAGE);
    return;
  }
  const engine = await openEngine({
    root: flags.root,
    noDefaultBridge: flags.noDefaultBridge,
    imageOptions: { insecureRegistries: flags.insecureRegistries, ...(flags.maxLayerSize ? { maxLayerBytes: flags.maxLayerSize } : {}) },
  });
  let api: DockerApiServer | undefined;
  let link: Link | undefined;
  let stopping = false;
  const shutdown = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    if (why) console.log(`berth-agent: ${why}, shutting down (containers keep running)`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      link?.close();
      await api?.close();
      await engine.close();
    } finally {
      process.exit(code);
    }
  };
  // Handlers go in before enrolment, which may wait a long time for an unreachable server.
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  api = await startDockerApi({ engine, socketPath: flags.dockerSocket });
  console.log(`berth-agent: Docker API on unix://${flags.dockerSocket} (root ${flags.root})`);
  if (flags.server) {
    try {
      link = await startLink({ engine, root: flags.root, server: flags.server, token: flags.token, serverFingerprint: flags.serverFingerprint, ca: flags.ca, dockerSocket: flags.dockerSocket });
    } catch (err) {
      console.error(`berth-agent: ${err instanceof EnrollError ? err.message : ((err as Error).stack ?? err)}`);
      await shutdown('', 1);
    }
  }
}

void main().catch((err) => {
  console.error(`berth-agent: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
