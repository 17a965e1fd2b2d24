/**
 * A key's page and its forms: the group choice and the per-person settings. htmx requests get
 * the part of the page that changed; plain form posts get the whole page.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type KeyChanges, updateApiKey } from "../core/api_keys.ts";
import { DelegationProblem } from "../core/delegation.ts";
import type { Deps } from "../deps.ts";
import type { FormState } from "../views/form_state.ts";
import { KeyPage, KeyPageBody, type KeyPageProps, LimitsSection } from "../views/key_page.tsx";
import { AdminError } from "./errors.ts";
import {
  delegationForm,
  identityHeadersOf,
  keyGroupForm,
  memberLimitsOf,
  memberQuery,
} from "./form_schemas.ts";
import { KEY_GONE, loadKeyPage, type MemberQuery } from "./key_page_data.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { checkForm, keyIdParam, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";

/** The extra state of a key's page after a form was posted. */
export type KeyPageState = Partial<Omit<KeyPageProps, "ctx" | "keyRow">>;

const SECRET_NEEDED =
  "The signed token needs the secret: enter the same text as Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET";

/** Renders a key's page, whole, with the state of a form just posted. */
export async function keyPage(
  c: Context<UiEnv>,
  deps: Deps,
  id: number,
  state: KeyPageState = {},
  query: MemberQuery = memberQuery.parse(c.req.query()),
  status?: 409 | 422,
) {
  const data = await loadKeyPage(deps, id, query);
  const props: KeyPageProps = { ctx: viewContext(c, deps), ...data, ...state };
  return renderPage(
    c,
    { title: data.keyRow.name, active: "keys", status },
    <KeyPage {...props} />,
  );
}

/** Builds a key's page and its forms (behind the session and CSRF guards). */
export function createKeyPageRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const now = () => deps.clock.now();
  const first: MemberQuery = { q: "", page: 1 };

  app.get("/keys/:id", (c) => keyPage(c, deps, keyIdParam(c)));

  app.post("/keys/:id/group", async (c) => {
    const id = keyIdParam(c);
    const values = await readForm(c);
    const checked = checkForm(keyGroupForm, values);
    let form = checked.ok ? undefined : checked.form;
    if (checked.ok) {
      const groupId = checked.data.group_id;
      if (groupId !== null && !await deps.store.getGroup(groupId)) {
        form = { values, errors: { group_id: "This group no longer exists; choose another" } };
      } else {
        if (!await updateApiKey(deps.store, id, { group_id: groupId }, now())) {
          throw new AdminError(404, KEY_GONE);
        }
        deps.log.info("api key changed", { id, group_id: groupId, via: "ui" });
      }
    }
    const state: KeyPageState = { groupForm: form, groupSaved: form === undefined };
    const status = form ? 422 : undefined;
    if (!wantsFragment(c)) return keyPage(c, deps, id, state, first, status);
    const props = { ctx: viewContext(c, deps), ...await loadKeyPage(deps, id, first), ...state };
    return renderFragment(c, <LimitsSection {...props} />, status);
  });

  app.post("/keys/:id/delegation", async (c) => {
    const id = keyIdParam(c);
    const values = await readForm(c);
    // The secret is write-only: a form shown again never carries what was typed into it.
    const { identity_secret: _secret, ...shown } = values;
    const refuse = (errors: Record<string, string>): FormState => ({ values: shown, errors });
    let form: FormState | undefined;
    // "No" ends the delegation: the other fields (hidden then) are not looked at.
    const checked = values.identity === ""
      ? { ok: true as const, data: null }
      : checkForm(delegationForm, values);
    if (!checked.ok) form = refuse(checked.form.errors);
    else if (checked.data === null) {
      if (!await updateApiKey(deps.store, id, { identity: null }, now())) {
        throw new AdminError(404, KEY_GONE);
      }
      deps.log.info("api key changed", { id, identity: null, via: "ui" });
    } else {
      const d = checked.data;
      const secret = d.identity_secret !== ""
        ? d.identity_secret
        : d.clear_secret
        ? null
        : undefined;
      const changes: KeyChanges = {
        identity: d.identity || null,
        trusted_peers: d.trusted_peers,
        identity_headers: identityHeadersOf(d),
        identity_secret: secret,
        member_limits: memberLimitsOf(d),
        on_missing_identity: d.on_missing_identity,
      };
      if (d.identity_secret !== "" && d.clear_secret) {
        form = refuse({ identity_secret: "Enter a new secret or clear it, not both" });
      } else {
        try {
          const updated = await updateApiKey(
            deps.store,
            id,
            changes,
            now(),
            deps.config.secretsKey,
          );
          if (!updated) throw new AdminError(404, KEY_GONE);
          // Never the secret: whether one was set, replaced or cleared is all that is logged.
          deps.log.info("api key changed", {
            id,
            identity: d.identity || null,
            secret: secret === undefined ? "kept" : secret === null ? "cleared" : "set",
            via: "ui",
          });
        } catch (err) {
          if (!(err instanceof DelegationProblem)) throw err;
          form = refuse({
            [err.field]: err.field === "identity_secret" ? SECRET_NEEDED : err.message,
          });
        }
      }
    }
    const state: KeyPageState = { delegationForm: form, delegationSaved: form === undefined };
    const status = form ? 422 : undefined;
    if (!wantsFragment(c)) return keyPage(c, deps, id, state, first, status);
    const props = { ctx: viewContext(c, deps), ...await loadKeyPage(deps, id, first), ...state };
    return renderFragment(c, <KeyPageBody {...props} />, status);
  });

  return app;
}
