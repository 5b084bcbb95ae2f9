// Whether a browser request comes from a page of this server. Used for the socket.io
// handshake and for tRPC mutations: a page on another origin must not act with our
// user's cookie. Clients that are not browsers (agents, scripts) send no Origin.

export function originAllowed(origin: string | null | undefined, host: string | null | undefined): boolean {
  if (!origin) return true;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    // "null" (sandboxed frames, file: pages) and garbage
    return false;
  }
  if (host && o.host === host) return true;
  const configured = [process.env.NEXTAUTH_URL, process.env.BERTH_PUBLIC_URL].filter((u): u is string => !!u);
  return configured.some((u) => {
    try {
      return new URL(u).origin === o.origin;
    } catch {
      return false;
    }
  });
}
