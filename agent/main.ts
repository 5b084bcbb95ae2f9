// The agent's command line: open the engine, serve the Docker API on a unix socket,
// and (with --server) keep a link to the control plane.
import { openEngine } from './engine/index';
import { startDockerApi } from './dockerapi/server';
import { startLink } from './link/client';
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
  const engine = await openEngine({ root: flags.root });
  const api = await startDockerApi({ engine, socketPath: flags.dockerSocket });
  console.log(`berth-agent: Docker API on unix://${flags.dockerSocket} (root ${flags.root})`);
  let link: Awaited<ReturnType<typeof startLink>> | undefined;
  if (flags.server) {
    try {
      link = await startLink({ engine, root: flags.root, server: flags.server, token: flags.token });
    } catch (err) {
      console.error(`berth-agent: ${err instanceof EnrollError ? err.message : (err as Error).stack ?? err}`);
      await api.close();
      await engine.close();
      process.exit(1);
    }
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`berth-agent: ${signal}, shutting down (containers keep running)`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      link?.close();
      await api.close();
      await engine.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

void main().catch((err) => {
  console.error(`berth-agent: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
