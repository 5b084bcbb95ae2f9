// The byte tunnel that carries a proxied Docker Engine API connection over the agent's link:
// the control plane opens one per client request, the agent connects it to its own Docker API
// socket as any client would, and bytes go both ways in bounded pieces, each acked.
import { z } from 'zod';

/** Bytes per piece either way, well under socket.io's message limit. */
export const TUNNEL_CHUNK_BYTES = 64 * 1024;
/** Pieces a side may have sent and not had acked; it stops reading its source until one is. */
export const TUNNEL_WINDOW = 8;
/** A piece the other side cannot take (a container not reading its stdin) may wait this long. */
export const TUNNEL_DATA_TIMEOUT_MS = 10 * 60_000;

const tunnelId = z.string().min(1).max(100);

/** The commands of the tunnel, part of the agent's command union (protocol/agent-link.ts). */
export const tunnelCommandSchemas = [
  /** Connects to the agent's Docker API socket; acked once connected. */
  z.strictObject({ op: z.literal('docker.open'), tunnelId }),
  /** Bytes for the socket, in order; acked once the socket took them (its buffer drained). */
  z.strictObject({ op: z.literal('docker.data'), tunnelId, data: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'data must be bytes') }),
  /** The client's side is done sending (a half-close: the answer may go on). */
  z.strictObject({ op: z.literal('docker.end'), tunnelId }),
  /** Tears the connection down at once. */
  z.strictObject({ op: z.literal('docker.close'), tunnelId }),
] as const;

/** What the socket said, agent → server as `dockerData` events, each acked once the server passed it on. */
export interface TunnelChunk {
  tunnelId: string;
  data?: Uint8Array;
  /** The socket ended (no more data). */
  end?: boolean;
  /** The socket failed; nothing more comes. */
  error?: string;
}
