// IPv4 addresses and subnets as 32-bit numbers: parsing, formatting, containment, overlap.
import { badRequest } from '../errors';

export interface Subnet {
  /** The network address. */
  base: number;
  prefix: number;
}

const QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return QUAD.test(s);
}

export function parseIpv4(s: string): number {
  if (!QUAD.test(s)) throw badRequest(`invalid IPv4 address: ${JSON.stringify(s)}`);
  return s.split('.').reduce((n, q) => n * 256 + Number(q), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.0.0/16"; a host part that is not zero is refused, as Docker refuses it. */
export function parseSubnet(s: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIpv4(m[1]) || Number(m[2]) > 32) throw badRequest(`invalid subnet ${JSON.stringify(s)}: want an IPv4 CIDR such as 172.20.0.0/16`);
  const prefix = Number(m[2]);
  const addr = parseIpv4(m[1]);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) throw badRequest(`invalid subnet ${s}: it has host bits set (the network is ${formatIpv4(base)}/${prefix})`);
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIpv4(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & maskOf(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}

/** The network and broadcast addresses are not for hosts (except in /31 and /32). */
export function hostRange(s: Subnet): { first: number; last: number } {
  if (s.prefix >= 31) return { first: s.base, last: s.base + size(s) - 1 };
  return { first: s.base + 1, last: s.base + size(s) - 2 };
}

export function ptrName(ip: number): string {
  return `${ip & 255}.${(ip >>> 8) & 255}.${(ip >>> 16) & 255}.${ip >>> 24}.in-addr.arpa`;
}

/** Docker's MAC for an address: 02:42 and the four bytes of the IPv4 address. */
export function macFor(ip: number): string {
  return ['02', '42', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/;

/** A unicast MAC address in lower case with colons; a multicast one is refused (the kernel would too). */
export function normalizeMac(s: string): string {
  if (!MAC.test(s)) throw badRequest(`invalid MAC address: ${JSON.stringify(s)}`);
  const mac = s.toLowerCase().replace(/-/g, ':');
  if (parseInt(mac.slice(0, 2), 16) & 1) throw badRequest(`invalid MAC address ${s}: a multicast address cannot be an interface's`);
  return mac;
}
