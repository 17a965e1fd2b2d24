/**
 * Ollama boxes as the `upstreams` table keeps them, and the rules around them: the bearer token
 * is sealed at rest (core/secret_box.ts) and never shown, a box from the table becomes the
 * pool's UpstreamConfig, the first start seeds the table from OLLAMA_URL (or an existing
 * database's `ollama_url` setting), and the one-box `ollama_url` setting edits the lone row.
 * @module
 */
import { keepCredentials, redactUrl } from "../redact.ts";
import { open, seal } from "../secret_box.ts";
import { DEFAULT_MAX_IN_FLIGHT, upstreamName, upstreamUrls } from "./setting.ts";
import type { UpstreamConfig } from "./types.ts";

/** One row of the `upstreams` table. */
export interface StoredUpstream {
  id: number;
  name: string;
  url: string;
  /** The bearer token sealed with core/secret_box.ts, or null. Never leaves the gateway. */
  token_sealed: string | null;
  enabled: boolean;
  /** Requests the gateway sends the box at once; null: no limit at the gateway. */
  max_in_flight: number | null;
  created_at: string;
  updated_at: string;
}

/** A row to insert. */
export type NewUpstream = Omit<StoredUpstream, "id">;

/** Columns to change (absent: unchanged); `updated_at` always moves. */
export interface UpstreamPatch {
  name?: string;
  url?: string;
  token_sealed?: string | null;
  enabled?: boolean;
  max_in_flight?: number | null;
  updated_at: string;
}

/** What the admin sees of a box: everything but the token, of which only whether one is set. */
export interface UpstreamView {
  id: number;
  name: string;
  url: string;
  has_token: boolean;
  enabled: boolean;
  max_in_flight: number | null;
  created_at: string;
  updated_at: string;
}

/**
 * What a box's name may hold: it is shown in metrics, logs and the request log, so no
 * credentials (no `@`), no markup, no control characters.
 */
export const UPSTREAM_NAME_PATTERN = /^[A-Za-z0-9[][A-Za-z0-9 ._:#/[\]-]*$/;
/** What a bad name is told. */
export const UPSTREAM_NAME_RULE =
  "may hold letters, digits, spaces and . _ : # / - [ ] (starting with a letter or digit)";
/** The longest name. */
export const MAX_UPSTREAM_NAME_LENGTH = 64;

/** The most max_in_flight may be (far above any OLLAMA_NUM_PARALLEL). */
export const MAX_IN_FLIGHT_CEILING = 1024;

/** The admin's view of a row (no token, sealed or not). */
export function upstreamView(row: StoredUpstream): UpstreamView {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    has_token: row.token_sealed !== null,
    enabled: row.enabled,
    max_in_flight: row.max_in_flight,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The stored form of a token given by the admin ("" or null: none). */
export function sealToken(token: string | null, secretsKey: string): string | null {
  return token === null || token === "" ? null : seal(token, secretsKey);
}

/** The pool's config of a row; a token sealed under another key is no token (and is said). */
export function upstreamConfig(row: StoredUpstream, secretsKey: string): UpstreamConfig {
  return {
    id: String(row.id),
    name: row.name,
    url: row.url,
    token: row.token_sealed === null ? null : open(row.token_sealed, secretsKey),
    enabled: row.enabled,
    maxInFlight: row.max_in_flight,
  };
}

/** Whether a row's token can no longer be read (SECRETS_KEY or ADMIN_PASSWORD changed). */
export function tokenUnreadable(row: StoredUpstream, secretsKey: string): boolean {
  return row.token_sealed !== null && open(row.token_sealed, secretsKey) === null;
}

/**
 * The rows a first start creates from OLLAMA_URL (or an existing database's `ollama_url`
 * setting): one per URL. A lone box keeps no limit at the gateway, as a gateway in front of one
 * Ollama always had; several take DEFAULT_MAX_IN_FLIGHT each.
 */
export function seedRows(setting: string, at: string): NewUpstream[] {
  const urls = upstreamUrls(setting);
  const taken = new Map<string, number>();
  return urls.map((url) => {
    const base = upstreamName(url);
    const n = (taken.get(base) ?? 0) + 1;
    taken.set(base, n);
    return {
      name: n === 1 ? base : `${base}#${n}`,
      url,
      token_sealed: null,
      enabled: true,
      max_in_flight: urls.length > 1 ? DEFAULT_MAX_IN_FLIGHT : null,
      created_at: at,
      updated_at: at,
    };
  });
}

/** Why the one-box `ollama_url` setting cannot be changed: several boxes are configured. */
export class SeveralUpstreams extends Error {
  constructor(readonly count: number) {
    super(
      `${count} Ollama boxes are configured, so there is no single Ollama URL to change: edit them on the Ollama boxes page (or with /api/upstreams)`,
    );
  }
}

/** What setting the one-box Ollama URL does to the table: create the box, or change its URL. */
export type SingleUrlChange =
  | { kind: "create"; row: NewUpstream }
  | { kind: "update"; id: number; patch: UpstreamPatch }
  | { kind: "none" };

/**
 * The change that setting the Ollama URL to `url` makes when `rows` are the boxes: with none, a
 * box is created (no limit at the gateway, as a lone box has); with one, its URL changes (or
 * stays, credentials and all, when `url` is its redacted form as the settings show it); with
 * several, SeveralUpstreams is thrown, since which one was meant cannot be known.
 */
export function singleUrlChange(
  rows: ReadonlyArray<StoredUpstream>,
  url: string,
  at: string,
): SingleUrlChange {
  if (rows.length > 1) throw new SeveralUpstreams(rows.length);
  if (rows.length === 0) {
    return {
      kind: "create",
      row: {
        name: upstreamName(url),
        url,
        token_sealed: null,
        enabled: true,
        max_in_flight: null,
        created_at: at,
        updated_at: at,
      },
    };
  }
  const [row] = rows;
  const kept = keepCredentials(url, row.url);
  if (row.url === kept) return { kind: "none" };
  return { kind: "update", id: row.id, patch: { url: kept, updated_at: at } };
}

/**
 * The `ollama_url` the settings API shows: the boxes' URLs, comma-separated (as OLLAMA_URL),
 * each with its user name and password shown as `***`.
 */
export function ollamaUrlOf(rows: ReadonlyArray<StoredUpstream>): string {
  return rows.map((r) => redactUrl(r.url)).join(",");
}

/**
 * The one-box URL that `url`, as the admin sent it, stands for: the lone box's stored URL when
 * `url` is its redacted form (the settings show it so), else `url`.
 */
export function singleUrlMeant(rows: ReadonlyArray<StoredUpstream>, url: string): string {
  return rows.length === 1 ? keepCredentials(url, rows[0].url) : url;
}
