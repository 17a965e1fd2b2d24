/**
 * Migrations 10 and 11, the same text in both dialects: the ledger's indexes that no read needs.
 * @module
 */
import { V10_DROP_KEY_DAY_INDEX } from "./v10_drop_key_day_index.ts";
import { V11_DROP_PENDING_INDEX } from "./v11_drop_pending_index.ts";

/** Appended to both dialects' lists as they are (frozen texts in their own files). */
export const LEDGER_INDEX_MIGRATIONS: ReadonlyArray<
  { version: number; name: string; sql: string }
> = [
  {
    version: 10,
    name: "the ledger's unread (key_id, day) index dropped",
    sql: V10_DROP_KEY_DAY_INDEX,
  },
  {
    version: 11,
    name:
      "the ledger's in-flight index by state dropped (the in-flight index by key holds the same rows)",
    sql: V11_DROP_PENDING_INDEX,
  },
];
