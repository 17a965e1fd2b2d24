/**
 * The Keys page and its actions. htmx requests get the part of the page that changed; plain
 * form posts get the whole page (or a redirect back to it).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { createApiKey, listKeyViews, parseExpiry, updateApiKey } from "../core/api_keys.ts";
import type { Deps } from "../deps.ts";
import { expiryFromDate } from "../core/key_expiry.ts";
import { filterKeyViews, type KeyFilter } from "../core/key_filter.ts";
import { requestWindows } from "../core/windows.ts";
import { CreateKeySection } from "../views/create_key.tsx";
import { DeleteKeyPage } from "../views/delete_key_page.tsx";
import { type Editing, KeyEntry } from "../views/key_entry.tsx";
import { type KeyRow, NO_LIVE_USAGE } from "../views/key_usage.tsx";
import { KeyList, KeysPage, KeyTable } from "../views/keys_page.tsx";
import type { FormState } from "../views/form_state.ts";
import type { GroupChoice } from "../views/group_field.tsx";
import { Notice } from "../views/parts.tsx";
import {
  pastExpiryConfirmed,
  type PastExpiryForm,
  pastExpiryWarning,
} from "../views/past_expiry.tsx";
import { AdminError } from "./errors.ts";
import { createKeyForm, editKeyForm, keyFilterQuery } from "./form_schemas.ts";
import { renderFragment, renderPage, viewContext } from "./render.tsx";
import { wantsFragment } from "./request_info.ts";
import { checkForm, keyIdParam, readForm } from "./ui_forms.ts";
import type { UiEnv } from "./ui_env.ts";

const ALL: KeyFilter = { name: "", status: "all" };
const PAGE = { title: "API keys", active: "keys" } as const;

/** Builds the Keys routes (behind the session and CSRF guards). */
export function createKeyRoutes(deps: Deps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const tz = deps.config.timeZone;
  // Every key with its day, month and live usage: three queries however many keys there are.
  const list = async (): Promise<KeyRow[]> => {
    const now = deps.clock.now();
    const [keys, live, groups] = await Promise.all([
      listKeyViews(deps.store, now, tz),
      // In a callback: a store that throws at once (SQLite) then rejects this promise instead of
      // leaving the one above rejected with nobody listening.
      Promise.resolve().then(() => deps.store.liveUsageByKey(requestWindows(now, tz).minute)),
      Promise.resolve().then(() => groupChoices()),
    ]);
    return keys.map((k) => ({
      ...k,
      live: live.get(k.id) ?? NO_LIVE_USAGE,
      group: groups.find((g) => g.id === k.group_id) ?? null,
    }));
  };
  // Every group by name, for the forms' group choice.
  const groupChoices = async (): Promise<GroupChoice[]> =>
    (await deps.store.listGroups()).map((g) => ({ id: g.id, name: g.name }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  // A chosen group must still exist; null when it does (or none was chosen).
  const missingGroup = async (
    values: Record<string, string>,
    groupId: number | null | undefined,
  ): Promise<FormState | null> => {
    if (typeof groupId !== "number" || await deps.store.getGroup(groupId)) return null;
    return { values, errors: { group_id: "This group no longer exists; choose another" } };
  };
  const find = async (c: Context): Promise<KeyRow> => {
    const id = keyIdParam(c);
    const key = (await list()).find((k) => k.id === id);
    if (!key) throw new AdminError(404, "This key does not exist (it may have been deleted)");
    return key;
  };
  // The whole Keys page, for plain page loads and for plain form posts that need to show errors.
  const fullPage = async (c: Context<UiEnv>, extra: { editing?: Editing }, status?: 422) => {
    const groups = await groupChoices();
    const editing = extra.editing && { ...extra.editing, groups };
    return renderPage(
      c,
      { ...PAGE, status },
      <KeysPage
        ctx={viewContext(c, deps)}
        keys={await list()}
        filter={ALL}
        groups={groups}
        editing={editing}
      />,
    );
  };
  // After an action on one key: htmx gets that key's rows, a plain post goes back to the list.
  // A date already past when it was chosen: the form again, with the question, unless confirmed.
  const askIfPast = (
    kind: PastExpiryForm,
    values: Record<string, string>,
    date: string,
    expiresAt: string | null,
  ): FormState | null => {
    if (!expiresAt || pastExpiryConfirmed(values)) return null;
    if (Date.parse(expiresAt) > deps.clock.now().epochMilliseconds) return null;
    return { values, errors: {}, warnings: { expires_on: pastExpiryWarning(kind, date) } };
  };
  const showKey = async (c: Context<UiEnv>) => {
    const key = await find(c);
    if (!wantsFragment(c)) return c.redirect("/keys", 303);
    return renderFragment(c, <KeyEntry ctx={viewContext(c, deps)} keyView={key} />);
  };

  app.get("/keys", async (c) => {
    const filter = keyFilterQuery.parse(c.req.query());
    const keys = filterKeyViews(await list(), filter);
    const ctx = viewContext(c, deps);
    if (wantsFragment(c)) {
      return renderFragment(c, <KeyTable ctx={ctx} keys={keys} filter={filter} />);
    }
    const page = <KeysPage ctx={ctx} keys={keys} filter={filter} groups={await groupChoices()} />;
    return renderPage(c, PAGE, page);
  });

  app.post("/keys", async (c) => {
    const ctx = viewContext(c, deps);
    const values = await readForm(c);
    const groups = await groupChoices();
    const refuse = async (form: FormState) => {
      if (wantsFragment(c)) {
        return renderFragment(
          c,
          <CreateKeySection ctx={ctx} form={form} groups={groups} />,
          422,
        );
      }
      const page = (
        <KeysPage ctx={ctx} keys={await list()} filter={ALL} create={form} groups={groups} />
      );
      return renderPage(c, { ...PAGE, status: 422 }, page);
    };
    const checked = checkForm(createKeyForm, values);
    if (!checked.ok) return refuse(checked.form);
    const gone = await missingGroup(values, checked.data.group_id);
    if (gone) return refuse(gone);
    const { expires_on, ...input } = checked.data;
    const expires_at = expires_on ? parseExpiry(expires_on, tz) : null;
    const warned = askIfPast("create", values, expires_on, expires_at);
    if (warned) return refuse(warned);
    const key = await createApiKey(deps.store, { ...input, expires_at }, deps.clock.now());
    deps.log.info("api key created", { id: key.id, key: key.prefix, via: "ui" });
    const created = { name: key.name, key: key.key };
    const keys = await list();
    if (wantsFragment(c)) {
      return renderFragment(
        c,
        <>
          <CreateKeySection ctx={ctx} created={created} groups={groups} />
          <KeyList ctx={ctx} keys={keys} filter={ALL} oob />
        </>,
      );
    }
    // Shown in the POST's own answer (never stored, never redirected to): the one time it is seen.
    const page = <KeysPage ctx={ctx} keys={keys} filter={ALL} created={created} groups={groups} />;
    return renderPage(c, PAGE, page);
  });

  app.get("/keys/:id/edit", async (c) => {
    const key = await find(c);
    if (!wantsFragment(c)) return fullPage(c, { editing: { id: key.id } });
    const ctx = viewContext(c, deps);
    const editing = { id: key.id, groups: await groupChoices() };
    return renderFragment(c, <KeyEntry ctx={ctx} keyView={key} editing={editing} />);
  });

  app.get("/keys/:id/row", showKey);

  app.post("/keys/:id", async (c) => {
    const key = await find(c);
    const values = await readForm(c);
    const refuse = async (form: FormState) => {
      const editing = { id: key.id, form, groups: await groupChoices() };
      if (!wantsFragment(c)) return fullPage(c, { editing }, 422);
      const ctx = viewContext(c, deps);
      return renderFragment(c, <KeyEntry ctx={ctx} keyView={key} editing={editing} />, 422);
    };
    const checked = checkForm(editKeyForm, values);
    if (!checked.ok) return refuse(checked.form);
    const gone = await missingGroup(values, checked.data.group_id);
    if (gone) return refuse(gone);
    const { expires_on, name, ...policy } = checked.data;
    const expires_at = expiryFromDate(expires_on, key.expires_at, tz);
    // Only a newly chosen date is asked about: saving the policy of an expired key is not.
    const warned = expires_at !== key.expires_at &&
      askIfPast("edit", values, expires_on, expires_at);
    if (warned) return refuse(warned);
    await updateApiKey(
      deps.store,
      key.id,
      { ...policy, ...(name && { name }), expires_at },
      deps.clock.now(),
    );
    deps.log.info("api key changed", { id: key.id, via: "ui" });
    return showKey(c);
  });

  for (const [action, active] of [["activate", true], ["deactivate", false]] as const) {
    app.post(`/keys/:id/${action}`, async (c) => {
      const id = keyIdParam(c);
      if (!await updateApiKey(deps.store, id, { active }, deps.clock.now())) {
        throw new AdminError(404, "This key does not exist (it may have been deleted)");
      }
      deps.log.info(`api key ${action}d`, { id, via: "ui" });
      return showKey(c);
    });
  }

  app.get("/keys/:id/delete", async (c) => {
    const page = <DeleteKeyPage ctx={viewContext(c, deps)} keyView={await find(c)} />;
    return renderPage(c, { ...PAGE, title: "Delete key" }, page);
  });

  app.post("/keys/:id/delete", async (c) => {
    const key = await find(c);
    if (!await deps.store.deleteKey(key.id)) {
      throw new AdminError(404, "This key does not exist (it may have been deleted)");
    }
    deps.log.info("api key deleted", { id: key.id, via: "ui" });
    if (!wantsFragment(c)) return c.redirect("/keys", 303);
    // The key's rows are swapped for nothing; the flash area says what happened.
    return renderFragment(
      c,
      <div id="flash" aria-live="polite" hx-swap-oob="true">
        <Notice kind="info">Key “{key.name}” deleted.</Notice>
      </div>,
    );
  });

  return app;
}
