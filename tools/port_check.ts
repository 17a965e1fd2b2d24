/**
 * Whether the gateway's ports are free, with a message that names the port and the variable
 * that moves it.
 * @module
 */
import type { Config } from "../core/config.ts";

/** Why a listener could not bind; null when it can. Port 0 (any free port) always can. */
export function portProblem(host: string, port: number, variable: string): string | null {
  if (port === 0) return null;
  try {
    Deno.listen({ hostname: host, port }).close();
    return null;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      return `Cannot start: port ${port} on ${host} (${variable}) is already in use. ` +
        `Stop the program using it, or set ${variable} to a free port in .env`;
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      return `Cannot start: port ${port} on ${host} (${variable}) needs privileges. ` +
        `Set ${variable} to a port above 1023 in .env`;
    }
    return `Cannot start: cannot listen on ${host}:${port} (${variable}): ${
      (err as Error).message
    }`;
  }
}

/** Every problem with the proxy and admin ports, in that order; empty when both are free. */
export function portProblems(config: Config): string[] {
  if (config.proxyPort !== 0 && config.proxyPort === config.adminPort) {
    return [
      `Cannot start: PROXY_PORT and ADMIN_PORT are both ${config.proxyPort}; set one of them to another port in .env`,
    ];
  }
  return [
    portProblem(config.proxyHost, config.proxyPort, "PROXY_PORT"),
    portProblem(config.adminHost, config.adminPort, "ADMIN_PORT"),
  ].filter((p): p is string => p !== null);
}
