/** What every signed-in view needs besides its data. */
export interface ViewContext {
  /** The session's CSRF token, put in every form. */
  csrf: string;
  /** The gateway's time zone (APP_TZ): days, months and expiry dates are counted in it. */
  timeZone: string;
  now: Temporal.Instant;
}
