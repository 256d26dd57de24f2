/** Exit codes follow sysexits(3) so scripts and supervisors can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1, // unexpected error
  usage: 64, // wrong command line
  /** A rule refused the change (closing a P1 before its review), a backup archive is damaged,
   * or a restore did not match its manifest (EX_DATAERR). */
  refused: 65,
  notFound: 66, // the named incident or file does not exist
  unavailable: 69, // a service (MongoDB, Redis, IMAP, SMTP) cannot be reached
  cantCreate: 73, // restore refused: the target database is not empty
  config: 78, // the configuration or the plan is invalid
} as const;
