// Who may enter the agent's root. It holds unpacked image layers and containers' upper dirs,
// and with them whatever setuid-root binaries and device nodes images ship or containers
// make; a local user who could reach them would run them from the host as root. So the root
// and the directories above layers and upper dirs are 0700 and the agent's own, as Docker
// keeps /var/lib/docker 0710: the kernel then stops every other user at the first of them.
// What is inside layers and upper dirs is the images' data and keeps its modes; containers
// do not need a way in, since their overlay mounts are made by root and overlayfs reaches
// its layers with the mounter's credentials.
//
// Exports: prepareRoot, closeToOthers, CLOSED_MODE.
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const CLOSED_MODE = 0o700;

/** The directories of ROOT that must be closed (relative; '' is the root itself). */
const ROOT_DIRS = ['', 'images', 'images/layers', 'containers'];

/**
 * Creates the agent's root and its top directories, closed to other users. A root from an
 * earlier version, with open directories, is closed here, and `log` gets one line naming
 * what changed.
 */
export function prepareRoot(root: string, log: (line: string) => void = console.log): void {
  closeToOthers(root, ROOT_DIRS, 'the agent root', log);
}

/**
 * Makes `base/rel` for each of `rels` (creating missing ones) mode 0700 and owned by this
 * process. Changes to directories that were already there are told to `log` in one line, e.g.
 * "berth-agent: closed the agent root to other users: /var/lib/berth 755→700, images 711→700".
 */
export function closeToOthers(base: string, rels: string[], what: string, log: (line: string) => void): void {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const changed: string[] = [];
  for (const rel of rels) {
    const dir = rel ? join(base, rel) : base;
    const name = rel || base;
    const existed = existsSync(dir);
    try {
      if (!existed) mkdirSync(dir, { recursive: true, mode: CLOSED_MODE });
      const st = statSync(dir);
      if (!st.isDirectory()) throw new Error('not a directory');
      if (st.uid !== uid || st.gid !== gid) {
        chownSync(dir, uid, gid);
        if (existed) changed.push(`${name} owner ${st.uid}:${st.gid}→${uid}:${gid}`);
      }
      // Exactly 0700, also when the umask took bits off a directory just made.
      if ((st.mode & 0o7777) !== CLOSED_MODE) {
        chmodSync(dir, CLOSED_MODE);
        if (existed) changed.push(`${name} ${(st.mode & 0o7777).toString(8)}→${CLOSED_MODE.toString(8)}`);
      }
    } catch (e) {
      throw new Error(`cannot close ${dir} to other users: ${(e as Error).message}`, { cause: e });
    }
  }
  if (changed.length) log(`berth-agent: closed ${what} to other users: ${changed.join(', ')}`);
}
