/**
 * The sign-in page.
 * @module
 */
import { Notice } from "./parts.tsx";

/** The sign-in form; `error` says why the last try failed, `next` is where to go after. */
export function LoginPage({ error, next }: { error?: string; next?: string }) {
  return (
    <section class="card login" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      <p class="lead">Manage API keys and quotas of this llm-quota gateway.</p>
      {error && <Notice kind="error" alert>{error}</Notice>}
      <form method="post" action="/login">
        {next && <input type="hidden" name="next" value={next} />}
        <div class={`field${error ? " invalid" : ""}`}>
          <label for="password">Admin password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            autofocus
            aria-invalid={error ? "true" : undefined}
          />
          <p class="hint">The ADMIN_PASSWORD the gateway was started with.</p>
        </div>
        <button type="submit" class="btn primary wide">Sign in</button>
      </form>
    </section>
  );
}
