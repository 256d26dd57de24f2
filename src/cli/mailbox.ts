/**
 * `incidesk mailbox authorize --provider google`: walks an administrator through getting an
 * offline refresh token for a mailbox that signs in with OAuth2 (consumer Gmail, or any
 * provider without a service account): prints the consent URL, reads back the code the
 * browser was given, exchanges it, and prints the refresh token for OAUTH_REFRESH_TOKEN_FILE.
 */
import { createInterface } from 'node:readline/promises';
import { Option, type Command } from 'commander';
import { loadAuthorizeConfig } from '../config.js';
import {
  authorizationCodeBody,
  codeFromPaste,
  consentUrl,
  GOOGLE_AUTH_URL,
  GOOGLE_MAIL_SCOPE,
  GOOGLE_TOKEN_URL,
} from '../domain/oauth.js';
import { OAuthRefusedError, postTokenRequest } from '../mail/oauth.js';
import { EXIT } from './exit-codes.js';
import { CliError, print } from './shared.js';

/** Google's "Desktop app" clients accept a loopback redirect; the page need not load. */
const LOOPBACK_REDIRECT = 'http://127.0.0.1';

export function registerMailboxCommands(program: Command): void {
  const mailbox = program.command('mailbox').description('mailbox sign-in');
  mailbox
    .command('authorize')
    .description(
      'get an OAuth2 refresh token for the mailbox: prints the consent URL, reads back the code',
    )
    .addOption(
      new Option('--provider <provider>', 'whose consent page')
        .choices(['google', 'generic'])
        .makeOptionMandatory(),
    )
    .option('--redirect-uri <uri>', 'the redirect URI registered for the client', LOOPBACK_REDIRECT)
    .action(async (opts: { provider: 'google' | 'generic'; redirectUri: string }) => {
      const c = loadAuthorizeConfig();
      const google = opts.provider === 'google';
      const authUrl = c.authUrl ?? (google ? GOOGLE_AUTH_URL : undefined);
      const tokenUrl = c.tokenUrl ?? (google ? GOOGLE_TOKEN_URL : undefined);
      if (!authUrl || !tokenUrl)
        throw new CliError(
          EXIT.config,
          'OAUTH_AUTH_URL and OAUTH_TOKEN_URL: are required for --provider generic',
        );
      const scope = c.scope ?? (google ? GOOGLE_MAIL_SCOPE : '');
      const url = consentUrl({
        authUrl,
        clientId: c.clientId,
        redirectUri: opts.redirectUri,
        scope,
        loginHint: c.loginHint,
      });
      // The URL on stdout alone, so it can be piped to a browser; the guidance on stderr.
      process.stderr.write(
        `Open this address, sign in as ${c.loginHint ?? 'the mailbox'} and allow access:\n`,
      );
      print(url);
      process.stderr.write(
        `The browser then goes to ${opts.redirectUri}/?code=… (the page may not load).\nPaste that whole address, or just the code, here: `,
      );
      const code = codeFromPaste(await readLine());
      if (!code)
        throw new CliError(EXIT.usage, 'no code given: paste the address the browser was sent to');
      try {
        const { json } = await postTokenRequest(
          tokenUrl,
          authorizationCodeBody({
            code,
            clientId: c.clientId,
            clientSecret: c.clientSecret,
            redirectUri: opts.redirectUri,
          }),
          c.loginHint ?? 'the mailbox',
        );
        if (typeof json.refresh_token !== 'string')
          throw new CliError(
            EXIT.refused,
            'the provider gave no refresh token: remove the app’s access in the account settings and run this again (consent must be fresh)',
          );
        process.stderr.write(
          '\nStore this refresh token as a secret, e.g. in OAUTH_REFRESH_TOKEN_FILE:\n',
        );
        print(`OAUTH_REFRESH_TOKEN=${json.refresh_token}`);
      } catch (err) {
        if (err instanceof OAuthRefusedError) throw new CliError(EXIT.noPermission, err.message);
        throw err;
      }
    });
}

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line;
    return '';
  } finally {
    rl.close();
  }
}
