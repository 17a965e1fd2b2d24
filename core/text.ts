/**
 * Client-given text that ends up in logs, the database or messages: control characters (which
 * break log lines and terminals) are found and replaced without a regular expression over them.
 * @module
 */

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/** Whether a text holds a control character (C0 or DEL). */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return true;
  return false;
}

/** A text with each run of control characters shown as one space. */
export function withoutControlCharacters(text: string): string {
  if (!hasControlCharacters(text)) return text;
  let out = "";
  let inRun = false;
  for (const ch of text) {
    if (isControl(ch.charCodeAt(0))) {
      if (!inRun) out += " ";
      inRun = true;
    } else {
      out += ch;
      inRun = false;
    }
  }
  return out;
}

/**
 * Whether a text holds a C0 control, DEL or a C1 control (U+0080–U+009F): the stricter test
 * for filter text (analytics), where C1 (CSI U+009B) is as much a terminal escape as ESC.
 */
export function hasAnyControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isControl(code) || (code >= 0x80 && code <= 0x9f)) return true;
  }
  return false;
}
