/**
 * The admin web UI: login, then the Keys (and each key's page), Usage, Requests, Groups,
 * Settings, Ollama boxes, Models and Proxy info pages.
 * @module
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import type { CredentialGuard } from "./credential_guard.ts";
import { SessionStore } from "./sessions.ts";
import { requireCsrf, requireSession } from "./ui_auth.ts";
import type { UiEnv } from "./ui_env.ts";
import { createGroupRoutes } from "./ui_groups.tsx";
import { createKeyPageRoutes } from "./ui_key_page.tsx";
import { createKeyRoutes } from "./ui_keys.tsx";
import { createMemberRoutes } from "./ui_members.tsx";
import { createLoginRoutes } from "./ui_login.tsx";
import { createModelRoutes } from "./ui_models.tsx";
import { createProxyInfoRoutes } from "./ui_proxy.tsx";
import { createRequestRoutes } from "./ui_requests.tsx";
import { createSettingsRoutes } from "./ui_settings.tsx";
import { createStaticRoutes } from "./ui_static.ts";
import { createUsageRoutes } from "./ui_usage.tsx";
import { createUpstreamRoutes } from "./ui_upstreams.tsx";

/**
 * Builds the UI routes; sessions live in memory, so a restart signs every admin out. `guard`
 * throttles the login's password checks together with the API's.
 */
export function createAdminUi(deps: Deps, guard: CredentialGuard): Hono<UiEnv> {
  const sessions = new SessionStore(deps.clock);
  const ui = new Hono<UiEnv>();

  // Open to everyone: the files the login page needs, and the login itself.
  ui.route("/", createStaticRoutes());
  ui.route("/", createLoginRoutes({ deps, sessions, guard }));

  // Everything below needs a session, and a CSRF token to change anything.
  ui.use("*", requireSession(sessions), requireCsrf());
  ui.get("/", (c) => c.redirect("/keys", 303));
  ui.route("/", createKeyRoutes(deps));
  ui.route("/", createKeyPageRoutes(deps));
  ui.route("/", createUsageRoutes(deps));
  ui.route("/", createRequestRoutes(deps));
  ui.route("/", createMemberRoutes(deps));
  ui.route("/", createGroupRoutes(deps));
  ui.route("/", createSettingsRoutes(deps));
  ui.route("/", createUpstreamRoutes(deps));
  ui.route("/", createModelRoutes(deps));
  ui.route("/", createProxyInfoRoutes(deps));
  return ui;
}
