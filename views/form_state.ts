/** Entered form values and the errors found in them, so a form can be shown again. */
export interface FormState {
  values: Record<string, string>;
  errors: Record<string, string>;
  /** Values that are valid but likely a mistake; the form asks to confirm them. */
  warnings?: Record<string, string>;
}
