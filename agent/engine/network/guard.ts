// A house rule made mechanical: tests never touch the machine's own network setup. An
// agent (or an engine opened in a test process) that runs under node's test runner
// (NODE_TEST_CONTEXT, which the runner sets for every test file and its children) in the
// machine's initial network namespace makes no bridge and no firewall rule: its default
// network is loopback only, as before Berth had networks, and `network create` is refused.
// Network tests run their agent in a namespace of their own, where none of this applies.
import { statSync } from 'node:fs';

/** Why this process must leave the network setup of its namespace alone, or undefined. */
export function hostNetworkGuard(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!env.NODE_TEST_CONTEXT) return undefined;
  let own: number;
  let initial: number;
  try {
    own = statSync('/proc/self/ns/net').ino;
    initial = statSync('/proc/1/ns/net').ino;
  } catch {
    // Cannot tell: the safe answer.
    return "running under node's test runner, and this network namespace may be the machine's own";
  }
  if (own !== initial) return undefined;
  return "running under node's test runner in the machine's own network namespace (tests run their agent in a network namespace of their own)";
}
