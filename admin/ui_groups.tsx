/**
 * The Groups page and its actions. htmx requests get the part of the page that changed; plain
 * form posts get the whole page (or a redirect back to it).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { noUsage } from "../core/api_keys.ts";
import { createGroup, groupFields, updateGroup } from "../core/groups.ts";
import { requestWindows } from "../core/windows.ts";
import type { Deps } from "../deps.ts";
import type { FormState } from "../views/form_state.ts";
import {
  CreateGroupSection,
  DeleteGroupPage,
  detachList,
  GroupCard,
  type GroupEditing,
  GroupList,
  type GroupRow,
  GroupsPage,
} from "../views/groups_page.tsx";
import { Notice } from "../views/parts.tsx";
import { AdminError } from "./errors.ts";
import { createGroupForm, editGroupForm } from "./form_schemas.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { idSchema } from "./schemas.ts";
import { checkForm, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";

const PAGE = { title: "Groups", active: "groups" } as const;
const GONE = "This group does not exist (it may have been deleted)";

/** The group id in the path, or 404. */
function groupIdParam(c: Context): number {
  const result = idSchema.safeParse(c.req.param("id"));
  if (!result.success) throw new AdminError(404, GONE);
  return result.data;
}

/** Builds the Groups routes (behind the session and CSRF guards). */
export function createGroupRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const tz = deps.config.timeZone;
  // Every group with its keys and its usage today and this month: three queries in all.
  const list = async (): Promise<GroupRow[]> => {
    const windows = requestWindows(deps.clock.now(), tz);
    const [groups, keys, usage] = await Promise.all([
      deps.store.listGroups(),
      // In callbacks: a store that throws at once (SQLite) rejects these promises instead.
      Promise.resolve().then(() => deps.store.listKeys()),
      Promise.resolve().then(() => deps.store.usageByOwner("group", windows)),
    ]);
    return groups.map((g) => ({
      ...groupFields(g),
      keys: keys.filter((k) => k.group_id === g.id).map((k) => ({ id: k.id, name: k.name }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id),
      usage: usage.get(g.id) ?? noUsage(),
    })).sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  };
  const find = async (c: Context): Promise<GroupRow> => {
    const id = groupIdParam(c);
    const group = (await list()).find((g) => g.id === id);
    if (!group) throw new AdminError(404, GONE);
    return group;
  };
  // Names are unique (the API answers 409); the form says so at the field.
  const nameTaken = async (name: string, id?: number) =>
    (await deps.store.listGroups()).some((g) => g.name === name && g.id !== id);
  const taken = (values: Record<string, string>, name: string): FormState => ({
    values,
    errors: { name: `A group named “${name}” exists already; choose another name` },
  });
  const fullPage = async (
    c: Context<UiEnv>,
    extra: { editing?: GroupEditing; create?: FormState; created?: string },
    status?: 422,
  ) =>
    renderPage(
      c,
      { ...PAGE, status },
      <GroupsPage ctx={viewContext(c, deps)} groups={await list()} {...extra} />,
    );

  app.get("/groups", (c) => fullPage(c, {}));

  app.post("/groups", async (c) => {
    const ctx = viewContext(c, deps);
    const values = await readForm(c);
    const refuse = (form: FormState) =>
      wantsFragment(c)
        ? renderFragment(c, <CreateGroupSection ctx={ctx} form={form} />, 422)
        : fullPage(c, { create: form }, 422);
    const checked = checkForm(createGroupForm, values);
    if (!checked.ok) return refuse(checked.form);
    if (await nameTaken(checked.data.name)) return refuse(taken(values, checked.data.name));
    const group = await createGroup(deps.store, checked.data, deps.clock.now());
    deps.log.info("group created", { id: group.id, via: "ui" });
    if (!wantsFragment(c)) return fullPage(c, { created: group.name });
    return renderFragment(
      c,
      <>
        <CreateGroupSection ctx={ctx} created={group.name} />
        <GroupList ctx={ctx} groups={await list()} oob />
      </>,
    );
  });

  app.get("/groups/:id/edit", async (c) => {
    const group = await find(c);
    if (!wantsFragment(c)) return fullPage(c, { editing: { id: group.id } });
    const ctx = viewContext(c, deps);
    return renderFragment(c, <GroupCard ctx={ctx} group={group} editing={{ id: group.id }} />);
  });

  app.get("/groups/:id/card", async (c) => {
    const group = await find(c);
    if (!wantsFragment(c)) return c.redirect("/groups", 303);
    return renderFragment(c, <GroupCard ctx={viewContext(c, deps)} group={group} />);
  });

  app.post("/groups/:id", async (c) => {
    const group = await find(c);
    const values = await readForm(c);
    const refuse = (form: FormState) => {
      const editing = { id: group.id, form };
      if (!wantsFragment(c)) return fullPage(c, { editing }, 422);
      const ctx = viewContext(c, deps);
      return renderFragment(c, <GroupCard ctx={ctx} group={group} editing={editing} />, 422);
    };
    const checked = checkForm(editGroupForm, values);
    if (!checked.ok) return refuse(checked.form);
    const { name } = checked.data;
    if (name !== undefined && await nameTaken(name, group.id)) return refuse(taken(values, name));
    if (!await updateGroup(deps.store, group.id, checked.data)) throw new AdminError(404, GONE);
    deps.log.info("group changed", { id: group.id, via: "ui" });
    if (!wantsFragment(c)) return c.redirect("/groups", 303);
    return renderFragment(c, <GroupCard ctx={viewContext(c, deps)} group={await find(c)} />);
  });

  app.get("/groups/:id/delete", async (c) => {
    const page = <DeleteGroupPage ctx={viewContext(c, deps)} group={await find(c)} />;
    return renderPage(c, { ...PAGE, title: "Delete group" }, page);
  });

  app.post("/groups/:id/delete", async (c) => {
    const group = await find(c);
    const values = await readForm(c);
    const force = values.force === "true";
    // A forced delete detaches exactly the keys the admin saw; others mean asking again.
    let refused: "has_keys" | "keys_changed" | null = null;
    if (!force && group.keys.length > 0) refused = "has_keys";
    else if (force && (values.detach ?? "") !== detachList(group)) refused = "keys_changed";
    else {
      const result = await deps.store.deleteGroup(group.id, force);
      if (result === "missing") throw new AdminError(404, GONE);
      if (result === "has_keys") refused = "has_keys";
    }
    if (refused) {
      if (wantsFragment(c)) {
        // The card stays; the flash area says why and leads to the confirmation.
        c.header("hx-retarget", "#flash");
        c.header("hx-reswap", "innerHTML");
        return renderFragment(
          c,
          <Notice kind="warning" alert>
            The group “{group.name}” still has keys, so it was not deleted.{" "}
            <a href={`/groups/${group.id}/delete`}>Detach its keys and delete it…</a>
          </Notice>,
          409,
        );
      }
      const page = <DeleteGroupPage ctx={viewContext(c, deps)} group={group} refused={refused} />;
      return renderPage(c, { ...PAGE, title: "Delete group", status: 409 }, page);
    }
    deps.log.info("group deleted", { id: group.id, detached: group.keys.length, via: "ui" });
    if (!wantsFragment(c)) return c.redirect("/groups", 303);
    // The card is swapped for nothing; the flash area says what happened.
    return renderFragment(
      c,
      <div id="flash" aria-live="polite" hx-swap-oob="true">
        <Notice kind="info">Group “{group.name}” deleted.</Notice>
      </div>,
    );
  });

  return app;
}
