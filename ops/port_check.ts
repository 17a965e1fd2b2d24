/**
 * Whether the gateway's ports are free, with a message that names the listener, the address and
 * the variable that moves it. `deno task dev` checks before the watcher starts; `main.ts` words
 * its own bind errors with `listenProblem`.
 * @module
 */
import type { Config } from "../core/config.ts";

/** A listener as messages name it: `proxy` on PROXY_HOST/PROXY_PORT, `admin` on ADMIN_*. */
export interface ListenerAddress {
  listener: "proxy" | "admin";
  host: string;
  port: number;
}

/** Why binding `address` failed with `err`, naming the listener, address and variable. */
export function listenProblem(address: ListenerAddress, err: unknown): string {
  const { listener, host, port } = address;
  const variable = listener === "proxy" ? "PROXY_PORT" : "ADMIN_PORT";
  const where = `port ${port} on ${host} (${variable}, the ${listener} listener)`;
  if (err instanceof Deno.errors.AddrInUse) {
    return `${where} is already in use. ` +
      `Stop the program using it, or set ${variable} to a free port (in .env or the environment)`;
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return `${where} needs privileges. Set ${variable} to a port above 1023 (in .env or the environment)`;
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    const hostVariable = listener === "proxy" ? "PROXY_HOST" : "ADMIN_HOST";
    return `${where}: ${host} is not an address of this machine; set ${hostVariable} (in .env or the environment)`;
  }
  return `cannot listen on ${host}:${port} (${variable}, the ${listener} listener): ${
    (err as Error).message
  }`;
}

/** Why a listener could not bind; null when it can. Port 0 (any free port) always can. */
export function portProblem(address: ListenerAddress): string | null {
  if (address.port === 0) return null;
  try {
    Deno.listen({ hostname: address.host, port: address.port }).close();
    return null;
  } catch (err) {
    return `Cannot start: ${listenProblem(address, err)}`;
  }
}

/** The proxy's and the admin's addresses in `config`. */
export function listenerAddresses(config: Config): [ListenerAddress, ListenerAddress] {
  return [
    { listener: "proxy", host: config.proxyHost, port: config.proxyPort },
    { listener: "admin", host: config.adminHost, port: config.adminPort },
  ];
}

/** Every problem with the proxy and admin ports, in that order; empty when both are free. */
export function portProblems(config: Config): string[] {
  return listenerAddresses(config).map(portProblem).filter((p): p is string => p !== null);
}
