// An engine with its Docker API socket and the link's command handler, driven over stdin:
// one JSON { n, cmd: AgentCommand } per line in, "RESULT <json { n, res: CommandResult }>"
// per line out, as each ends (commands run at once, as the link runs them).
// Started in a test's network namespace (nsenter), so its bridges are the test's own; the
// stack commands take the same path as from the control plane (agent/link/commands.ts).
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { openEngine } from '../../../agent/engine/index';
import { startDockerApi } from '../../../agent/dockerapi/server';
import { Stacks } from '../../../agent/engine/stacks';
import { runCommand, type CommandContext } from '../../../agent/link/commands';
import { Terminals } from '../../../agent/link/terminal';

const { values } = parseArgs({ options: { root: { type: 'string' }, sock: { type: 'string' } } });
const engine = await openEngine({ root: values.root! });
const api = await startDockerApi({ engine, socketPath: values.sock! });
const stacks = new Stacks(engine, values.root!);
const ctx: CommandContext = {
  engine,
  stacks,
  onPullProgress: () => {},
  sendLogs: async () => {},
  subscriptions: new Map(),
  terminals: new Terminals(engine, async () => {}),
  sendImageData: async () => {},
  saves: new Map(),
  loads: new Map(),
};
const stop = async () => {
  await api.close();
  await engine.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdout.write('READY\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const { n, cmd } = JSON.parse(line) as { n: number; cmd: unknown };
  void runCommand(ctx, cmd).then((res) => process.stdout.write(`RESULT ${JSON.stringify({ n, res })}\n`));
});
