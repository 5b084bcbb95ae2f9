'use client';
// A container's published ports in the host's table: each "HOST:PORT" (a link for TCP) and
// the container port it leads to.
import type { PublishedPort } from '../../../protocol/container';
import { publishedPortLink } from '../../lib/port-links';

export function PortLinks({ ports, agentAddress }: { ports: PublishedPort[] | undefined; agentAddress: string | null | undefined }) {
  if (!ports?.length) return <span className="text-slate-400">—</span>;
  // Rows come only after the host's data has loaded in the browser, so location is there.
  const pageHost = typeof window === 'undefined' ? 'localhost' : window.location.hostname;
  return (
    <ul className="space-y-0.5 font-mono text-xs whitespace-nowrap">
      {ports.map((p) => {
        const link = publishedPortLink(p, agentAddress, pageHost);
        return (
          <li key={`${p.hostIp}:${p.hostPort}/${p.protocol}`}>
            {link.href ? (
              <a href={link.href} target="_blank" rel="noopener noreferrer" className="text-sky-700 hover:underline" data-testid="container-port-link">
                {link.text}
              </a>
            ) : (
              <span data-testid="container-port-text">{link.text}</span>
            )}
            <span className="text-slate-400">
              {' '}
              → {p.containerPort}/{p.protocol}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
