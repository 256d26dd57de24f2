/** Exit codes follow sysexits(3) so scripts and supervisors can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1, // unexpected error
  usage: 64, // wrong command line
  refused: 65, // a rule refused the change (e.g. closing a P1 before its review); EX_DATAERR
  notFound: 66, // the named incident or file does not exist
  unavailable: 69, // a service (MongoDB, Redis, IMAP, SMTP) cannot be reached
  config: 78, // the configuration or the plan is invalid
} as const;
