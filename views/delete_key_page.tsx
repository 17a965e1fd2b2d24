/**
 * The confirmation step of a delete for browsers without JavaScript.
 * @module
 */
import type { KeyView } from "../core/api_keys.ts";
import { CsrfField, PageHeader } from "./parts.tsx";
import type { ViewContext } from "./view_context.ts";

/** The confirmation step of a delete for browsers without JavaScript. */
export function DeleteKeyPage({ ctx, keyView: k }: { ctx: ViewContext; keyView: KeyView }) {
  return (
    <>
      <PageHeader title={`Delete the key “${k.name}”?`} />
      <section class="card narrow">
        <p>
          Apps using <code>{k.prefix}…</code>{" "}
          stop working at once, and the key's usage history is deleted with it. This cannot be
          undone. To stop the key for a while instead, deactivate it.
        </p>
        <form method="post" action={`/keys/${k.id}/delete`} class="form-actions">
          <CsrfField token={ctx.csrf} />
          <button type="submit" class="btn danger solid">Delete key</button>
          <a class="btn ghost" href="/keys">Cancel</a>
        </form>
      </section>
    </>
  );
}
