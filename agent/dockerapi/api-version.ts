// The API version a request speaks: its /vX.Y/ prefix, or the current version without one, as
// dockerd's version middleware decides. Shapes that changed between versions ask apiAtLeast.
import { DOCKER_API_VERSION, DOCKER_MIN_API_VERSION } from '../../protocol/docker-api';
import { MUX_STREAM, RAW_STREAM } from './hijack';
import { HttpError } from './http';

export function compareVersions(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

/** True when `version` is `min` or newer. */
export const apiAtLeast = (version: string, min: string): boolean => compareVersions(version, min) >= 0;

/** The version a request asks for, refused in dockerd's words when this agent cannot speak it. */
export function requestVersion(prefix: string | undefined): string {
  const v = prefix ?? DOCKER_API_VERSION;
  if (compareVersions(v, DOCKER_API_VERSION) > 0) throw new HttpError(400, `client version ${v} is too new. Maximum supported API version is ${DOCKER_API_VERSION}`);
  if (compareVersions(v, DOCKER_MIN_API_VERSION) < 0) {
    throw new HttpError(400, `client version ${v} is too old. Minimum supported API version is ${DOCKER_MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  return v;
}

/** A stream's Content-Type, as dockerd sets it: multiplexed without a TTY from 1.42, raw before and with one. */
export const streamContentType = (tty: boolean, version: string): string => (!tty && apiAtLeast(version, '1.42') ? MUX_STREAM : RAW_STREAM);
