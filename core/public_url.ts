/**
 * The proxy's public URL: the address clients on other machines use, given by PUBLIC_URL or the
 * Settings page. One rule for the environment, the JSON API and the form.
 * @module
 */
import { z } from "zod";

/** Whether `text` is an http(s) URL fit as a base URL: no credentials, query or fragment. */
export function isPublicUrl(text: string): boolean {
  // A query or fragment (even an empty one) would be cut off when paths are appended.
  if (/[?#]/.test(text)) return false;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" &&
    url.username === "" && url.password === "";
}

/** A valid public URL in its stored form: scheme and host as URL writes them, no trailing slash. */
export function normalizePublicUrl(text: string): string {
  const url = new URL(text);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * A public URL field: trimmed, "" (not set) or a valid URL, normalized. `message` is the text of
 * the failure, written for whoever reads it (an operator's terminal, an API client, a form).
 */
export function publicUrlField(message: string) {
  return z.string({ error: message }).trim()
    .refine((v) => v === "" || isPublicUrl(v), message)
    .transform((v) => v === "" ? "" : normalizePublicUrl(v));
}
