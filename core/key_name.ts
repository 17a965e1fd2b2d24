/**
 * The one rule for a key's name, applied by the JSON API, the UI's forms and the key CLI alike:
 * trimmed, 1 to {@link MAX_KEY_NAME_LENGTH} characters, and nothing that could rewrite a terminal
 * or a log line when the name is shown.
 * @module
 */
import { z } from "zod";

/** The longest key name, in characters: names are stored, listed and logged. */
export const MAX_KEY_NAME_LENGTH = 200;

/**
 * Characters refused in a name: control characters (C0, DEL, C1: a terminal obeys escape
 * sequences, a log line ends at a line break), the Unicode line and paragraph separators, and
 * the bidirectional overrides and isolates that display text in another order than it is stored.
 */
const FORBIDDEN = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Why a name is refused. */
export type KeyNameProblem = "empty" | "too_long" | "control_character";

/** The default wording of each problem (the UI's forms phrase "empty" for a person). */
export const KEY_NAME_MESSAGES: Record<KeyNameProblem, string> = {
  empty: "must not be empty",
  too_long: `must be at most ${MAX_KEY_NAME_LENGTH} characters`,
  control_character: "must not contain control characters such as tabs or line breaks",
};

/** The name as stored (trimmed), or the rule it breaks. */
export function checkKeyName(raw: string): { name: string } | { problem: KeyNameProblem } {
  const name = raw.trim();
  if (name === "") return { problem: "empty" };
  if ([...name].length > MAX_KEY_NAME_LENGTH) return { problem: "too_long" };
  if (FORBIDDEN.test(name)) return { problem: "control_character" };
  return { name };
}

/**
 * A zod schema of the rule, for the API and the forms; `messages` reword the problems and
 * `not_text` (a value that is no string at all).
 */
export function keyNameSchema(
  messages: Partial<Record<KeyNameProblem | "not_text", string>> = {},
) {
  const text = { ...KEY_NAME_MESSAGES, not_text: "must be a text", ...messages };
  return z.string({ error: text.not_text }).transform((raw, ctx) => {
    const checked = checkKeyName(raw);
    if ("problem" in checked) {
      ctx.addIssue({ code: "custom", message: text[checked.problem] });
      return z.NEVER;
    }
    return checked.name;
  });
}

/**
 * A name made safe to print on one terminal line: control and formatting characters of names
 * stored before the rule existed are shown as `\u{…}` escapes.
 */
export function printableName(name: string): string {
  return name.replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
}
