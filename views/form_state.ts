/** Entered form values and the errors found in them, so a form can be shown again. */
export interface FormState {
  values: Record<string, string>;
  errors: Record<string, string>;
}
