// An engine with its Docker API socket and the link's command handler, driven over stdin:
// one JSON AgentCommand per line in, "RESULT <json CommandResult>" per line out, in order.
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
// One at a time, in order: a test reads the answers back in the order it asked.
let chain = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  chain = chain.then(async () => {
    const res = await runCommand(ctx, JSON.parse(line));
    process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  });
});
