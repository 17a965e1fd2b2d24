/**
 * Narrowing the admin's key list by name and status.
 * @module
 */
import type { KeyStatus, KeyView } from "./api_keys.ts";

/** What an admin filters the key list by; an empty name and "all" keep every key. */
export interface KeyFilter {
  name: string;
  status: KeyStatus | "all";
}

/** Keys whose name contains `filter.name` (ignoring case) and whose status matches. */
export function filterKeyViews<T extends KeyView>(keys: T[], filter: KeyFilter): T[] {
  const needle = filter.name.trim().toLocaleLowerCase();
  return keys.filter((k) =>
    (filter.status === "all" || k.status === filter.status) &&
    (needle === "" || k.name.toLocaleLowerCase().includes(needle))
  );
}
