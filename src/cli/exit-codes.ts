/** Exit codes follow sysexits(3) so scripts and supervisors can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1, // unexpected error
  usage: 64, // wrong command line
  /** Data failed a check or a rule: a change refused (closing a P1 before its review), a
   * damaged backup archive or a restore that does not match it, a broken audit chain. */
  refused: 65,
  notFound: 66, // the named incident or file does not exist
  unavailable: 69, // a service (MongoDB, Redis, IMAP, SMTP) cannot be reached
  cantCreate: 73, // restore refused: the target database is not empty
  noPermission: 77, // no valid operator token, or the operator's role may not do this
  config: 78, // the configuration or the plan is invalid
} as const;
