/**
 * Names of form fields that both the forms (views/) and their parsers (admin/) use.
 * @module
 */
import type { IdentityHeaders } from "../core/model.ts";

/** The form field of a person's limit (a member template's or a member's own). */
export const memberField = (field: string): string => `member_${field}`;

/** The form field of each header name. */
export const headerField = (name: keyof IdentityHeaders): string => `header_${name}`;
