// Networks as every part of Berth speaks of them: what a caller asks for when it creates
// one (the Docker API face maps its body into it, the dashboard will build it) and what
// the engine shows. Pure data and zod, no Node imports.
import { z } from 'zod';

export const networkCreateSchema = z.strictObject({
  name: z.string().min(1, 'a network needs a name'),
  /** Only "bridge" (the default). */
  driver: z.string().optional(),
  /** No traffic to or from outside the network (Docker's --internal). */
  internal: z.boolean().optional(),
  /** Docker's --attachable: recorded and shown; on a local bridge every container may attach anyway, as in Docker. */
  attachable: z.boolean().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** IPv4 CIDR; absent: a free one from the pool. */
  subnet: z.string().optional(),
  /** Absent: the subnet's first address. */
  gateway: z.string().optional(),
  /** A CIDR inside the subnet that containers get their addresses from. */
  ipRange: z.string().optional(),
});
export type NetworkCreate = z.infer<typeof networkCreateSchema>;

export interface NetworkContainer {
  id: string;
  name: string;
  endpointId: string;
  macAddress: string;
  /** "172.20.0.2/16"; "" for the host and none networks. */
  ipv4Address: string;
}

export interface NetworkInfo {
  id: string;
  name: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  /** bridge, or host and null for the two built-in networks without a bridge. */
  driver: 'bridge' | 'host' | 'null';
  /** bridge, host and none: made by the engine, not removable. */
  builtin: boolean;
  internal: boolean;
  attachable: boolean;
  /** Bridges only. */
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Running containers attached to it. */
  containers: NetworkContainer[];
}
