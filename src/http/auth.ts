/**
 * Bearer-token authentication and a limit on failed attempts per client address, so tokens
 * cannot be guessed. Tokens are looked up by their SHA-256 (catalog), never compared as text
 * and never logged.
 */

import type { NextFunction, Request, Response } from "express";
import type { Principal } from "../catalog/index.ts";
import { VaultError } from "../errors.ts";

export type AuthedRequest = Request & { principal?: Principal };

export type AuthOptions = {
  authenticate(token: string): Principal | undefined;
  /** Failed attempts allowed per address within `windowMs` before answering 429. */
  maxFailures?: number;
  windowMs?: number;
};

export function createAuth(options: AuthOptions) {
  const maxFailures = options.maxFailures ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const failures = new Map<string, { count: number; since: number }>();

  const limited = (addr: string, at: number): boolean => {
    const f = failures.get(addr);
    if (f === undefined) return false;
    if (at - f.since > windowMs) {
      failures.delete(addr);
      return false;
    }
    return f.count >= maxFailures;
  };
  const fail = (addr: string, at: number): void => {
    const f = failures.get(addr);
    if (f === undefined || at - f.since > windowMs) failures.set(addr, { count: 1, since: at });
    else f.count++;
    if (failures.size > 10_000) failures.clear(); // bounded memory under a spray of addresses
  };

  /** The principal for an Authorization header from `addr`; a failure counts towards the limit. */
  function check(addr: string, header: string): Principal {
    const at = Date.now();
    if (limited(addr, at)) throw new VaultError("RATE_LIMITED", "too many failed authentication attempts; try again later");
    const m = /^Bearer ([A-Za-z0-9_\-.~+/]{8,256}=*)$/.exec(header);
    const principal = m?.[1] === undefined ? undefined : options.authenticate(m[1]);
    if (principal === undefined) {
      fail(addr, at);
      throw new VaultError("UNAUTHORIZED", header === "" ? "missing bearer token" : "invalid bearer token");
    }
    return principal;
  }

  function requireAuth(req: AuthedRequest, _res: Response, next: NextFunction): void {
    try {
      req.principal = check(req.socket.remoteAddress ?? "unknown", req.get("authorization") ?? "");
    } catch (error) {
      next(error);
      return;
    }
    next();
  }
  // Shared with the `Expect: 100-continue` check, so guesses there count and are limited too.
  return Object.assign(requireAuth, { check });
}

export type Auth = ReturnType<typeof createAuth>;

export function principalOf(req: AuthedRequest): Principal {
  if (req.principal === undefined) throw new VaultError("UNAUTHORIZED", "missing bearer token");
  return req.principal;
}
