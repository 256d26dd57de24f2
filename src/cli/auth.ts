/**
 * The CLI is not an open door: before any command runs, the caller proves who they are with
 * an operator token (INCIDESK_TOKEN or INCIDESK_TOKEN_FILE), matched by its sha256 against
 * the plan's `access.operators`, and their role must reach the command's minimum
 * (src/domain/access.ts: CLI_MINIMUM; commands not listed there need an administrator).
 */
import type { Command } from 'commander';
import { ConfigError, loadOperatorAuth } from '../config.js';
import { atLeast, cliMinimum, operatorForToken } from '../domain/access.js';
import { loadPlan } from '../plan/load.js';
import { setDefaultActor } from '../store/audit.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './shared.js';

/** "audit verify" for `incidesk audit verify`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** commander `preAction` hook on the root command. */
export async function requireOperator(_root: Command, action: Command): Promise<void> {
  const path = commandPath(action);
  const minimum = cliMinimum(path);
  if (minimum === null) return;
  const { planPath, token } = loadOperatorAuth();
  if (!token)
    throw new CliError(
      EXIT.noPermission,
      `\`incidesk ${path}\` needs an operator token: set INCIDESK_TOKEN (or INCIDESK_TOKEN_FILE) to a token listed in the plan's access.operators`,
    );
  if (!planPath) throw new ConfigError(['INCIDESK_PLAN: is required (it lists the operators)']);
  const plan = await loadPlan(planPath);
  const operator = operatorForToken(plan.access.operators, token);
  if (!operator)
    throw new CliError(
      EXIT.noPermission,
      `the operator token is not valid for this plan (${planPath}): its sha256 is not in access.operators`,
    );
  if (!atLeast(operator.role, minimum))
    throw new CliError(
      EXIT.noPermission,
      `operator ${operator.name} (${operator.role}) may not run \`incidesk ${path}\`: it needs ${minimum}`,
    );
  setDefaultActor({ kind: 'operator', id: operator.name }, `incidesk ${path}`);
}
