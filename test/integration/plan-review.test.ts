/**
 * The annual review of the response plan on real services: an overdue review is a warning at
 * start-up and in `incidesk status`; a manager approves the review with the CLI, which writes
 * the new dates and version into the plan file and records the version with who approved it
 * in `plan_versions` and the audit log; an agent may not.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../../src/app.js';
import { addYears, utcDay } from '../../src/domain/plan-review.js';
import { createLogger } from '../../src/log.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { AuditEntryModel, PlanVersion } from '../../src/store/models.js';
import { testEnv, testPlan, type TestEnv } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const MANAGER_TOKEN = 'plan-review-manager-token-5c2e91';
const AGENT_TOKEN = 'plan-review-agent-token-0b7d44';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const daysFromToday = (n: number) => utcDay(new Date(Date.now() + n * 86_400_000));

describe('annual review of the plan', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  const overdue = daysFromToday(-10);
  const review = `reviewedAt: ${addYears(overdue, -1)}\nreviewedBy: mia\nnextReviewDue: ${overdue}\n`;

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp);
  });
  afterAll(async () => {
    await disconnectStore();
    await smtp?.close();
  });

  it('starting with an overdue review logs a warning, and `incidesk status` shows it', async () => {
    const records: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) records.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const app = await startApp(t.config, testPlan(review), createLogger('info', sink));
    // Stopped only once the intake has synced: a stop during its first sync waits forever.
    await app.intake!.synced();
    await app.stop();
    const warning = records.find((r) => r.component === 'plan');
    expect(warning).toMatchObject({ level: 40, review: 'overdue' });
    expect(warning!.msg).toBe(
      `The response plan's annual review is overdue: it was due ${overdue} (last reviewed ${addYears(overdue, -1)} by mia).`,
    );

    const status = await runIncidesk(['status'], t.env);
    expect(status.stdout).toContain(
      `plan review: The response plan's annual review is overdue: it was due ${overdue}`,
    );
    const json = JSON.parse((await runIncidesk(['status', '--json'], t.env)).stdout);
    expect(json.planReview).toMatchObject({ state: 'overdue', nextReviewDue: overdue });
  });

  it('a manager approves the review; the plan file and plan_versions record it; an agent may not', async () => {
    const file = join(tmpdir(), `incidesk-plan-review-${process.pid}.yaml`);
    const original = `# Our response plan. Reviewed every year.
version: 4
organisation: Example Corp
${review}access:
  operators:
    - { name: mia-ops, role: manager, tokenSha256: ${sha256(MANAGER_TOKEN)} }
    - { name: olga-ops, role: agent, tokenSha256: ${sha256(AGENT_TOKEN)} }
`;
    writeFileSync(file, original);
    const as = (token: string, args: string[]) =>
      runIncidesk(['plan', ...args], { ...t.env, INCIDESK_PLAN: file, INCIDESK_TOKEN: token });
    const note = 'Reviewed with the security lead; playbooks unchanged';

    const agent = await as(AGENT_TOKEN, ['review', '--approve', '--note', note]);
    expect(agent.code).toBe(77);
    expect(agent.stderr).toContain('may not run `incidesk plan review`: it needs manager');
    const noNote = await as(MANAGER_TOKEN, ['review', '--approve']);
    expect(noNote.code).toBe(64);
    expect(noNote.stderr).toContain('--approve needs --note');
    expect(readFileSync(file, 'utf8')).toBe(original);

    const approved = await as(MANAGER_TOKEN, ['review', '--approve', '--note', note]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    const today = utcDay(new Date());
    const next = addYears(today, 1);
    expect(approved.stdout).toContain(`plan review approved by mia-ops: version 5`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# Our response plan. Reviewed every year.\nversion: 5\n');
    expect(text).toContain(`reviewedAt: ${today}\nreviewedBy: mia-ops\nnextReviewDue: ${next}\n`);

    await connectStore(t.config.mongoUri); // the app of the test before has stopped
    const version = await PlanVersion.findOne().sort({ _id: -1 }).lean();
    expect(version).toMatchObject({ version: 5, approvedBy: 'mia-ops', note, text });
    const audited = await AuditEntryModel.collection.findOne({ action: 'plan-reviewed' });
    expect(audited).toMatchObject({
      actor: { kind: 'operator', id: 'mia-ops' },
      detail: { version: 5, approvedBy: 'mia-ops', note },
    });

    const versions = await as(MANAGER_TOKEN, ['versions']);
    const lines = versions.stdout.trim().split('\n');
    expect(lines).toHaveLength(2); // recorded at start-up, then the approved one
    expect(lines[1]).toContain(`v5`);
    expect(lines[1]).toContain(`approved by mia-ops: ${note}`);
    expect(lines[0]).not.toContain('approved');

    const status = await runIncidesk(['status'], t.env);
    expect(status.stdout).toContain(`plan review: next due ${next}`);
  });
});
