/**
 * What the admin shows when a request cannot be served: a page, or a message in the flash area.
 * @module
 */
import { Notice, PageHeader } from "./parts.tsx";

const TITLES: Record<number, string> = {
  400: "This request could not be read",
  403: "This request was refused",
  404: "Not found",
  409: "This could not be done",
  422: "Please check the entered values",
  429: "Too many attempts",
  502: "Ollama could not be reached",
};

/** The title shown for an HTTP status. */
export function errorTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? "Something went wrong" : "This could not be done");
}

/** A full-page error with a way back. */
export function ErrorPage({ status, message }: { status: number; message: string }) {
  return (
    <>
      <PageHeader title={errorTitle(status)} />
      <section class="card narrow">
        <Notice kind="error" alert>{message}</Notice>
        <p>
          <a href="/keys">Back to the keys</a>
        </p>
      </section>
    </>
  );
}

/** The error as htmx swaps it into the flash area. */
export function ErrorFlash({ message }: { message: string }) {
  return <Notice kind="error" alert>{message}</Notice>;
}
