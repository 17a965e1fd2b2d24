/**
 * The people of a delegating key, on its page: the search, block and unblock, limits of their
 * own and back to the key's template. htmx gets the person's rows (or the list); plain form
 * posts go back to the same page of the list.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { memberLimitsWith } from "../core/groups.ts";
import type { ApiKey, Member } from "../core/model.ts";
import type { Deps } from "../deps.ts";
import { listingQuery, type MemberEditing, MemberEntry, MemberTable } from "../views/members.tsx";
import { AdminError } from "./errors.ts";
import { memberLimitsForm, memberLimitsOf, memberQuery } from "./form_schemas.ts";
import {
  keyOr404,
  loadKeyPage,
  memberOr404,
  type MemberQuery,
  memberRow,
} from "./key_page_data.ts";
import { renderFragment, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { idSchema } from "./schemas.ts";
import { keyPage } from "./ui_key_page.tsx";
import { checkForm, keyIdParam, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";

/** The key and the person named in the path, or 404. */
async function keyAndMember(c: Context, deps: Deps): Promise<{ key: ApiKey; member: Member }> {
  const key = await keyOr404(deps, keyIdParam(c));
  const memberId = idSchema.safeParse(c.req.param("member"));
  if (!memberId.success) throw new AdminError(404, "This person is not among the key's people");
  return { key, member: await memberOr404(deps, key, memberId.data) };
}

/** Builds the people routes of a key's page (behind the session and CSRF guards). */
export function createMemberRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();

  // The person's rows for htmx; a plain request goes back to their place in the list.
  const showMember = async (
    c: Context<UiEnv>,
    key: ApiKey,
    member: Member,
    query: MemberQuery,
    editing?: MemberEditing,
    status?: 422,
  ) => {
    if (!wantsFragment(c)) {
      if (editing) return keyPage(c, deps, key.id, { memberEditing: editing }, query, status);
      return c.redirect(`/keys/${key.id}${listingQuery(query)}#member-${member.id}`, 303);
    }
    return renderFragment(
      c,
      <MemberEntry
        ctx={viewContext(c, deps)}
        keyId={key.id}
        member={await memberRow(deps, key, member)}
        listing={query}
        editing={editing}
      />,
      status,
    );
  };
  // Where a form post came from: the search and page it carries.
  const postedQuery = (values: Record<string, string>) => memberQuery.parse(values);

  app.get("/keys/:id/members", async (c) => {
    const id = keyIdParam(c);
    const query = memberQuery.parse(c.req.query());
    if (!wantsFragment(c)) return c.redirect(`/keys/${id}${listingQuery(query)}#members`, 303);
    const data = await loadKeyPage(deps, id, query);
    return renderFragment(
      c,
      <MemberTable ctx={viewContext(c, deps)} keyId={id} listing={data.members} />,
    );
  });

  app.get("/keys/:id/members/:member/edit", async (c) => {
    const { key, member } = await keyAndMember(c, deps);
    return showMember(c, key, member, memberQuery.parse(c.req.query()), { id: member.id });
  });

  app.get("/keys/:id/members/:member/row", async (c) => {
    const { key, member } = await keyAndMember(c, deps);
    return showMember(c, key, member, memberQuery.parse(c.req.query()));
  });

  app.post("/keys/:id/members/:member", async (c) => {
    const { key, member } = await keyAndMember(c, deps);
    const values = await readForm(c);
    const query = postedQuery(values);
    const checked = checkForm(memberLimitsForm, values);
    if (!checked.ok) {
      return showMember(c, key, member, query, { id: member.id, form: checked.form }, 422);
    }
    const limits = memberLimitsWith(key, member, memberLimitsOf(checked.data));
    const updated = await deps.store.updateMember(key.id, member.id, { limits });
    if (!updated) throw new AdminError(404, "This person is not among the key's people");
    deps.log.info("member changed", { key: key.id, member: member.id, via: "ui" });
    return showMember(c, key, updated, query);
  });

  const actions = {
    reset: { patch: { limits: null }, log: "member limits reset" },
    block: { patch: { blocked: true }, log: "member blocked" },
    unblock: { patch: { blocked: false }, log: "member unblocked" },
  } as const;
  for (const [action, { patch, log }] of Object.entries(actions)) {
    app.post(`/keys/:id/members/:member/${action}`, async (c) => {
      const { key, member } = await keyAndMember(c, deps);
      const query = postedQuery(await readForm(c));
      const updated = await deps.store.updateMember(key.id, member.id, patch);
      if (!updated) throw new AdminError(404, "This person is not among the key's people");
      deps.log.info(log, { key: key.id, member: member.id, via: "ui" });
      return showMember(c, key, updated, query);
    });
  }

  return app;
}
