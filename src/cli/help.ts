/** What `--help` says about the environment and the operator token each command needs. */
import type { Command } from 'commander';
import { cliMinimum } from '../domain/access.js';
import { commandPath } from './auth.js';

export const ENVIRONMENT_HELP = `
Configuration comes from the environment, then ./.env (or --env-file PATH) for what is unset.
  stores     MONGODB_URI, REDIS_URL
  mailbox    IMAP_HOST, IMAP_PORT, IMAP_SECURE, IMAP_USER, IMAP_PASS, IMAP_MAILBOX;
             more mailboxes: INCIDESK_MAILBOXES and MAILBOX_<NAME>_* (docs/mailboxes.md)
  OAuth2     OAUTH_PROVIDER (microsoft, google, generic) instead of passwords, with
             OAUTH_TENANT, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN,
             OAUTH_SERVICE_ACCOUNT_FILE, OAUTH_TOKEN_URL, OAUTH_SCOPE (docs/mailboxes.md)
  sending    SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASS
  identity   SUPPORT_ADDRESS, SUPPORT_NAME, INCIDESK_SECRET, INCIDESK_PLAN
  operator   INCIDESK_TOKEN: a token listed (as sha256) in the plan's access.operators;
             \`incidesk operator token\` makes one. \`start\` and \`check\` need none.
Any secret may be given as a file instead: NAME_FILE=/run/secrets/name.
The full list, with defaults: .env.example and docs/configuration.md.
Exit codes: 0 ok, 64 usage, 65 refused, 66 not found, 69 service unavailable,
  73 restore target not empty, 77 no permission or sign-in refused, 78 bad configuration.`;

function requirement(command: Command): string {
  const minimum = cliMinimum(commandPath(command));
  return minimum === null
    ? '\nOperator token: not needed.'
    : `\nOperator token: INCIDESK_TOKEN (or INCIDESK_TOKEN_FILE) of an operator with role ${minimum} or above.\nConfiguration: see \`incidesk --help\`.`;
}

/** Adds the token requirement to the help of every command that runs something. */
export function explainRequirements(program: Command): void {
  const visit = (command: Command): void => {
    if (command.commands.length === 0) command.addHelpText('after', requirement(command));
    command.commands.forEach(visit);
  };
  program.commands.forEach(visit);
}
