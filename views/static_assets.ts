/**
 * The admin UI's static files: htmx from its npm package and our own files from static/.
 *
 * They are text imports (stable since Deno 2.8), so they are part of the module graph: `deno run`
 * reads them from the npm cache and the repository, and `deno compile` embeds them in the binary
 * like any module, with no `--include` flag and no file-system read at run time.
 * @module
 */
import { createHash } from "node:crypto";
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import adminCss from "../static/admin.css" with { type: "text" };
import adminJs from "../static/admin.js" with { type: "text" };
import iconSvg from "../static/icon.svg" with { type: "text" };

/** A static file ready to serve. */
export interface StaticAsset {
  body: string;
  contentType: string;
  /** Strong ETag and URL version: the start of the SHA-256 of the body. */
  hash: string;
}

function asset(body: string, contentType: string): StaticAsset {
  return { body, contentType, hash: createHash("sha256").update(body).digest("hex").slice(0, 16) };
}

const ASSETS: ReadonlyMap<string, StaticAsset> = new Map([
  ["htmx.min.js", asset(htmx, "text/javascript; charset=utf-8")],
  ["admin.css", asset(adminCss, "text/css; charset=utf-8")],
  ["admin.js", asset(adminJs, "text/javascript; charset=utf-8")],
  ["icon.svg", asset(iconSvg, "image/svg+xml")],
]);

/** The one way to read a static asset by its file name; undefined when there is none. */
export function staticAsset(name: string): StaticAsset | undefined {
  return ASSETS.get(name);
}

/** The URL of an asset, versioned by its content so browsers may cache it for good. */
export function assetUrl(name: string): string {
  const found = ASSETS.get(name);
  if (!found) throw new Error(`Cannot link static asset "${name}": no such file`);
  return `/static/${name}?v=${found.hash}`;
}
