/** `incidesk operator token`: a new operator token and the plan entry that admits it. */
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import { OPERATOR_ROLES, sha256Hex } from '../domain/access.js';
import { print } from './shared.js';

export function registerOperatorCommands(program: Command): void {
  const operator = program.command('operator').description('CLI operator identities');
  operator
    .command('token')
    .description(
      'print a new random operator token and its sha256; put the hash in the plan, give the token to the operator',
    )
    .option('--name <name>', 'who the token is for', 'ops')
    .addOption(
      new Option('--role <role>', 'what they may do').choices([...OPERATOR_ROLES]).default('agent'),
    )
    .action((opts: { name: string; role: string }) => {
      // 32 random bytes: not guessable, and the plan only ever holds the hash.
      const token = randomBytes(32).toString('base64url');
      const hash = sha256Hex(token);
      print(`token:       ${token}`);
      print(`tokenSha256: ${hash}`);
      print('');
      print('plan (access.operators):');
      print(`  - { name: ${JSON.stringify(opts.name)}, role: ${opts.role}, tokenSha256: ${hash} }`);
      print('');
      print('operator environment: INCIDESK_TOKEN=<token> (or INCIDESK_TOKEN_FILE=/path)');
    });
}
