// A house rule made mechanical: tests never touch the machine's own network setup. An
// agent (or an engine opened in a test process) that runs under node's test runner
// (NODE_TEST_CONTEXT, which the runner sets for every test file and its children) in the
// machine's initial network namespace makes no bridge and no firewall rule: its default
// network is loopback only, as before Berth had networks, and `network create` is refused.
// Network tests run their agent in a namespace of their own, where none of this applies.
import { statSync } from 'node:fs';

/** init_net's fixed inode number on kernels that give it one (PROC_NET_INIT_INO). */
const INIT_NET_INO = 0xeffffff9;

/** The inode of the machine's initial network namespace: PID 1's, or kthreadd's (kernel threads live there), where readable. */
function initialNetns(): number | undefined {
  for (const pid of [1, 2]) {
    try {
      return statSync(`/proc/${pid}/ns/net`).ino;
    } catch {
      // Not ours to read (a sandbox's PID 1), or no such process: the next one.
    }
  }
  return undefined;
}

/** Why this process must leave the network setup of its namespace alone, or undefined. */
export function hostNetworkGuard(env: Record<string, string | undefined> = process.env): string | undefined {
  if (!env.NODE_TEST_CONTEXT) return undefined;
  const why = "running under node's test runner in the machine's own network namespace (tests run their agent in a network namespace of their own)";
  let own: number;
  try {
    own = statSync('/proc/self/ns/net').ino;
  } catch {
    return why;
  }
  if (own === INIT_NET_INO) return why;
  const initial = initialNetns();
  // Cannot tell: the safe answer.
  if (initial === undefined || own === initial) return why;
  return undefined;
}
