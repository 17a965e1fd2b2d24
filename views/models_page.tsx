/**
 * The Models page: what Ollama has installed, read-only.
 * @module
 */
import { formatBytes, formatDateTime } from "./format.ts";
import { Notice, PageHeader } from "./parts.tsx";
import type { ModelList } from "./settings_page.tsx";

/** The whole Models page content. */
export function ModelsPage(
  { models, ollamaUrl, defaultModel, timeZone }: {
    models: ModelList;
    ollamaUrl: string;
    defaultModel: string;
    timeZone: string;
  },
) {
  return (
    <>
      <PageHeader title="Models">
        What Ollama at <code>{ollamaUrl}</code>{" "}
        offers. Install or remove models with Ollama itself; the gateway does not let keys do it.
      </PageHeader>
      <section class="card">
        {!models.ok
          ? (
            <Notice kind="error" alert>
              {models.error}. Check the Ollama URL on the <a href="/settings">Settings</a> page.
            </Notice>
          )
          : models.models.length === 0
          ? <p class="empty">Ollama has no models installed yet.</p>
          : (
            <table class="models">
              <caption class="visually-hidden">Models installed in Ollama</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Family</th>
                  <th scope="col">Parameters</th>
                  <th scope="col">Quantization</th>
                  <th scope="col" class="num">Size</th>
                  <th scope="col">Modified</th>
                </tr>
              </thead>
              <tbody>
                {models.models.map((m) => (
                  <tr>
                    <td data-label="Name">
                      <code>{m.name}</code>
                      {(m.name === defaultModel || m.name === `${defaultModel}:latest`) && (
                        <span class="badge info">default</span>
                      )}
                    </td>
                    <td data-label="Family">{m.family || <span class="muted">–</span>}</td>
                    <td data-label="Parameters">
                      {m.parameter_size || <span class="muted">–</span>}
                    </td>
                    <td data-label="Quantization">
                      {m.quantization_level || <span class="muted">–</span>}
                    </td>
                    <td data-label="Size" class="num">{formatBytes(m.size)}</td>
                    <td data-label="Modified">
                      {m.modified_at && !Number.isNaN(Date.parse(m.modified_at))
                        ? formatDateTime(m.modified_at, timeZone)
                        : <span class="muted">–</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </section>
    </>
  );
}
