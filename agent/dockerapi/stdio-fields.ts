// The create body's terminal, stdin and group fields (Tty, OpenStdin, StdinOnce,
// AttachStdin, ConsoleSize, GroupAdd) into the spec's process section, and back out for
// inspect. Kept apart from containers.ts so that file's mapping stays one line for them.
import { z } from 'zod';
import type { ContainerRecord, ContainerSpec } from '../engine/types';
import { HttpError } from './http';

const fields = z.object({
  Tty: z.boolean().nullish(),
  OpenStdin: z.boolean().nullish(),
  StdinOnce: z.boolean().nullish(),
  AttachStdin: z.boolean().nullish(),
});
const hostFields = z.object({
  ConsoleSize: z.array(z.number().int().min(0).max(65535)).length(2).nullish(),
  // Docker takes group names and gids; a number in JSON is a gid too.
  GroupAdd: z.array(z.union([z.string(), z.number().int().nonnegative().transform(String)])).nullish(),
});

export function stdioSpec(body: Record<string, unknown>, host: Record<string, unknown> | undefined): NonNullable<ContainerSpec['process']> {
  const b = fields.safeParse(body);
  const h = hostFields.safeParse(host ?? {});
  for (const r of [b, h]) {
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new HttpError(400, `invalid container config: ${(r === h ? ['HostConfig', ...issue.path] : issue.path).join('.')}: ${issue.message}`);
    }
  }
  const { Tty, OpenStdin, StdinOnce, AttachStdin } = b.data!;
  const { ConsoleSize, GroupAdd } = h.data!;
  // Only what is set, so a plain create's spec stays as small as before these fields.
  return {
    ...(Tty ? { tty: true } : {}),
    ...(OpenStdin ? { openStdin: true } : {}),
    ...(StdinOnce ? { stdinOnce: true } : {}),
    ...(AttachStdin ? { attachStdin: true } : {}),
    ...(GroupAdd?.length ? { groupAdd: GroupAdd } : {}),
    ...(Tty && ConsoleSize && ConsoleSize[0] > 0 && ConsoleSize[1] > 0 ? { consoleSize: { rows: ConsoleSize[0], cols: ConsoleSize[1] } } : {}),
  };
}

/** Config's and HostConfig's share of inspect for these fields. */
export function stdioInspect(c: ContainerRecord): { config: Record<string, unknown>; host: Record<string, unknown> } {
  const p = c.spec.process;
  return {
    config: { AttachStdin: !!p.attachStdin, Tty: p.tty, OpenStdin: !!p.openStdin, StdinOnce: !!p.stdinOnce },
    host: { GroupAdd: p.groupAdd?.length ? p.groupAdd : null, ConsoleSize: p.consoleSize ? [p.consoleSize.rows, p.consoleSize.cols] : [0, 0] },
  };
}
