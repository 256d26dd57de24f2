/** Exit codes follow sysexits(3) so scripts and supervisors can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1, // unexpected error
  usage: 64, // wrong command line
  dataError: 65, // stored data failed a check (the audit chain is broken)
  notFound: 66, // the named incident or file does not exist
  unavailable: 69, // a service (MongoDB, Redis, IMAP, SMTP) cannot be reached
  noPermission: 77, // no valid operator token, or the operator's role may not do this
  config: 78, // the configuration or the plan is invalid
} as const;
