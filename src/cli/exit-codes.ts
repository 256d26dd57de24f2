/** Exit codes follow sysexits(3) so scripts and supervisors can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1, // unexpected error
  usage: 64, // wrong command line
  dataErr: 65, // a backup archive is damaged, incomplete or not ours; a restore did not match it
  notFound: 66, // the named incident or file does not exist
  unavailable: 69, // a service (MongoDB, Redis, IMAP, SMTP) cannot be reached
  cantCreate: 73, // restore refused: the target database is not empty
  config: 78, // the configuration or the plan is invalid
} as const;
