/**
 * The Ollama boxes page and its actions. htmx requests get the part of the page that changed;
 * plain form posts get the whole page (or a redirect back to it).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { createUpstream, updateUpstream, type UpstreamResult } from "../core/upstreams/admin.ts";
import type { UpstreamStatusView } from "../core/upstreams/status_view.ts";
import { redactUrl } from "../core/redact.ts";
import { upstreamsChanged, upstreamsOf } from "../ops/upstreams.ts";
import type { FormState } from "../views/form_state.ts";
import {
  BoxCard,
  type BoxEditing,
  DeleteBoxPage,
  UpstreamsContent,
  UpstreamsPage,
} from "../views/upstreams_page.tsx";
import { AdminError } from "./errors.ts";
import { upstreamForm } from "./form_schemas.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { idSchema } from "./schemas.ts";
import { checkForm, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";
import { changedAt, upstreamStatusViews } from "./upstreams_api.ts";

const PAGE = { title: "Ollama boxes", active: "upstreams" } as const;
const GONE = "This Ollama box does not exist (it may have been deleted)";

function boxIdParam(c: Context): number {
  const result = idSchema.safeParse(c.req.param("id"));
  if (!result.success) throw new AdminError(404, GONE);
  return result.data;
}

/** Builds the Ollama boxes routes (behind the session and CSRF guards). */
export function createUpstreamRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const key = deps.config.secretsKey;
  const find = async (c: Context): Promise<UpstreamStatusView> => {
    const id = boxIdParam(c);
    const box = (await upstreamStatusViews(deps)).find((b) => b.id === id);
    if (!box) throw new AdminError(404, GONE);
    return box;
  };
  const props = async (
    c: Context<UiEnv>,
    extra: { create?: FormState; editing?: BoxEditing; done?: string } = {},
  ) => ({
    ctx: viewContext(c, deps),
    boxes: await upstreamStatusViews(deps),
    queueDepth: upstreamsOf(deps).queueDepth,
    ...extra,
  });
  const fullPage = async (
    c: Context<UiEnv>,
    extra: Parameters<typeof props>[1] = {},
    status?: 409 | 422,
  ) => renderPage(c, { ...PAGE, status }, <UpstreamsPage {...await props(c, extra)} />);
  // After a change: the list and forms again (htmx), or back to the page (a plain post).
  const changed = async (c: Context<UiEnv>, done: string) => {
    await upstreamsChanged(deps);
    if (!wantsFragment(c)) return c.redirect("/upstreams", 303);
    return renderFragment(c, <UpstreamsContent {...await props(c, { done })} />);
  };
  const nameTaken = (values: Record<string, string>, result: UpstreamResult): FormState => ({
    values,
    errors: {
      name: `A box named “${
        result.kind === "name_taken" ? result.name : ""
      }” exists already; choose another name`,
    },
  });

  app.get("/upstreams", (c) => fullPage(c));

  app.post("/upstreams", async (c) => {
    const values = await readForm(c);
    const refuse = async (form: FormState) =>
      wantsFragment(c)
        ? renderFragment(c, <UpstreamsContent {...await props(c, { create: form })} />, 422)
        : fullPage(c, { create: form }, 422);
    const checked = checkForm(upstreamForm, values);
    if (!checked.ok) return refuse(checked.form);
    const result = await createUpstream(
      deps.store,
      { ...checked.data, token: checked.data.token ?? null },
      key,
      changedAt(deps),
    );
    if (result.kind !== "ok") return refuse(nameTaken(values, result));
    deps.log.info("Ollama box added", {
      id: result.row.id,
      name: result.row.name,
      url: redactUrl(result.row.url),
      via: "ui",
    });
    return changed(c, `Ollama box “${result.row.name}” added.`);
  });

  app.get("/upstreams/:id/edit", async (c) => {
    const box = await find(c);
    if (!wantsFragment(c)) return fullPage(c, { editing: { id: box.id } });
    const ctx = viewContext(c, deps);
    return renderFragment(c, <BoxCard ctx={ctx} box={box} editing={{ id: box.id }} />);
  });

  app.get("/upstreams/:id/card", async (c) => {
    const box = await find(c);
    if (!wantsFragment(c)) return c.redirect("/upstreams", 303);
    return renderFragment(c, <BoxCard ctx={viewContext(c, deps)} box={box} />);
  });

  app.post("/upstreams/:id", async (c) => {
    const box = await find(c);
    const values = await readForm(c);
    const refuse = (form: FormState) => {
      const editing = { id: box.id, form };
      if (!wantsFragment(c)) return fullPage(c, { editing }, 422);
      const ctx = viewContext(c, deps);
      return renderFragment(c, <BoxCard ctx={ctx} box={box} editing={editing} />, 422);
    };
    const checked = checkForm(upstreamForm, values);
    if (!checked.ok) return refuse(checked.form);
    const result = await updateUpstream(deps.store, box.id, checked.data, key, changedAt(deps));
    if (result.kind === "missing") throw new AdminError(404, GONE);
    if (result.kind === "name_taken") return refuse(nameTaken(values, result));
    // The token is never logged: only which fields were sent.
    deps.log.info("Ollama box changed", { id: box.id, url: redactUrl(result.row.url), via: "ui" });
    await upstreamsChanged(deps);
    if (!wantsFragment(c)) return c.redirect("/upstreams", 303);
    return renderFragment(c, <BoxCard ctx={viewContext(c, deps)} box={await find(c)} />);
  });

  app.post("/upstreams/:id/enabled", async (c) => {
    const box = await find(c);
    const enabled = (await readForm(c)).enabled === "yes";
    const result = await updateUpstream(deps.store, box.id, { enabled }, key, changedAt(deps));
    if (result.kind !== "ok") throw new AdminError(404, GONE);
    deps.log.info(enabled ? "Ollama box enabled" : "Ollama box disabled", {
      id: box.id,
      via: "ui",
    });
    return changed(c, `Ollama box “${box.name}” ${enabled ? "enabled" : "disabled"}.`);
  });

  app.get("/upstreams/:id/delete", async (c) => {
    const page = <DeleteBoxPage ctx={viewContext(c, deps)} box={await find(c)} />;
    return renderPage(c, { ...PAGE, title: "Delete Ollama box" }, page);
  });

  app.post("/upstreams/:id/delete", async (c) => {
    const box = await find(c);
    if (!await deps.store.deleteUpstream(box.id)) throw new AdminError(404, GONE);
    deps.log.info("Ollama box deleted", { id: box.id, via: "ui" });
    return changed(c, `Ollama box “${box.name}” deleted.`);
  });

  return app;
}
