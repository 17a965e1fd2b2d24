// llm-quota admin: the little behaviour htmx does not cover. Loaded as a file so the
// Content-Security-Policy can forbid inline scripts; everything works without it too.
"use strict";

/** Shows the copy buttons, which are hidden until this script can make them work. */
function revealCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy][hidden]")) {
    button.hidden = false;
  }
}

/** The text of the element a copy button points at. */
function textOf(element) {
  return "value" in element && typeof element.value === "string"
    ? element.value
    : element.textContent;
}

/** Selects an element's text so the user can copy it by hand when the clipboard is refused. */
function selectText(element) {
  if (typeof element.select === "function") {
    element.focus();
    element.select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = globalThis.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

/** Shows a short confirmation on the button, then restores its label. */
function flashLabel(button, text) {
  const label = button.dataset.label ?? button.textContent;
  button.dataset.label = label;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
}

async function copyFrom(button) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) return;
  try {
    // The clipboard API needs a secure context: https, localhost or 127.0.0.1.
    await navigator.clipboard.writeText(textOf(target));
    flashLabel(button, "Copied");
  } catch {
    selectText(target);
    flashLabel(button, "Press Ctrl+C");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (button) copyFrom(button);
});

// A field showing a secret selects itself on focus, so copying by hand is one keystroke.
document.addEventListener("focusin", (event) => {
  if (event.target.matches("[data-select-on-focus]")) event.target.select();
});

document.addEventListener("DOMContentLoaded", () => revealCopyButtons(document));
// Content htmx swaps in (a new key, a snippet) gets working buttons too.
document.addEventListener("htmx:load", (event) => revealCopyButtons(event.target));
