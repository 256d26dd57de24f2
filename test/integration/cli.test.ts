import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { openIncident, recordMessage } from '../../src/store/incidents.js';
import { testEnv, type TestEnv } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';

describe('incidesk CLI', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = testEnv({ port: 2525 });
    await connectStore(t.env.MONGODB_URI!);
    for (const [i, who] of ['ann@example.com', 'ben@example.com'].entries()) {
      const at = new Date(Date.UTC(2026, 10, 20 + i, 9));
      const { incident } = await openIncident({
        openedBy: `raw-${i}`,
        subject: `Problem ${i + 1}`,
        customer: { address: who },
        at,
      });
      await recordMessage(incident.number, {
        _id: `msg-raw-${i}`,
        at,
        type: 'message',
        direction: 'inbound',
        from: who,
        subject: `Problem ${i + 1}`,
        text: `Details of problem ${i + 1}`,
      });
    }
  });
  afterAll(async () => disconnectStore());

  it('lists incidents as a table and as JSON', async () => {
    const table = await runIncidesk(['incidents', 'list'], t.env);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID\s+STATUS\s+PRIO\s+GROUP\s+ASSIGNEE\s+CUSTOMER/,
    );
    expect(table.stdout).toMatch(/INC-000002\s+new\s+-\s+-\s+-\s+ben@example\.com/);
    const json = await runIncidesk(['incidents', 'list', '--json'], t.env);
    expect(JSON.parse(json.stdout).map((i: { number: number }) => i.number)).toEqual([2, 1]);
  });

  it('shows one incident with its timeline', async () => {
    const shown = await runIncidesk(['incidents', 'show', 'INC-000001'], t.env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('INC-000001  Problem 1');
    expect(shown.stdout).toContain('← from ann@example.com');
    expect(shown.stdout).toContain('Details of problem 1');
    const json = JSON.parse(
      (await runIncidesk(['incidents', 'show', 'inc-1', '--json'], t.env)).stdout,
    );
    expect(json.incident.customer.address).toBe('ann@example.com');
    expect(json.timeline).toHaveLength(1);
  });

  it('exits with meaningful codes', async () => {
    expect((await runIncidesk(['incidents', 'show', 'INC-000099'], t.env)).code).toBe(66);
    expect((await runIncidesk(['incidents', 'show', 'nonsense'], t.env)).code).toBe(64);
    expect((await runIncidesk(['frobnicate'], t.env)).code).toBe(64);
    const bad = await runIncidesk(['start'], {
      ...t.env,
      REDIS_URL: 'http://nope',
      INCIDESK_SECRET: 'short',
      IMAP_HOST: '',
    });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/REDIS_URL: must start with redis/);
    expect(bad.stderr).toMatch(/INCIDESK_SECRET: must be at least 16/);
    expect(bad.stderr).toMatch(/IMAP_HOST: is required/);
    const badPlan = await runIncidesk(['check'], {
      ...t.env,
      INCIDESK_PLAN: '/nonexistent/plan.yaml',
    });
    expect(badPlan.code).toBe(78);
    expect(badPlan.stderr).toMatch(/cannot read/);
    const ok = await runIncidesk(['check'], t.env);
    expect(ok.stdout).toMatch(/plan .* ok \(v1-/);
    expect(ok.stdout).toContain('customer mail in de, en (default en)');
  });

  it('check names the customer mail templates a locale lacks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'incidesk-locales-'));
    const plan = (extra: string) => {
      const file = join(dir, `${extra.slice(0, 12).replace(/\W/g, '-')}.yaml`);
      writeFileSync(file, `version: 1\norganisation: X\n${extra}\n`);
      return file;
    };
    // A customer written to in French: warned, falls back to the default locale.
    const french = await runIncidesk(['check'], {
      ...t.env,
      INCIDESK_PLAN: plan('customers: [{ domain: client.example, tier: x, locale: fr }]'),
    });
    expect(french.code).toBe(0);
    expect(french.stdout).toContain(
      'warning: templates/fr/ lacks acknowledgement, agent-reply, resolved, stakeholder-briefing, stakeholder-update: fr customers get those in en',
    );
    // French as the default: nothing to fall back to.
    const frenchDefault = await runIncidesk(['check'], {
      ...t.env,
      INCIDESK_PLAN: plan('locale: fr'),
    });
    expect(frenchDefault.code).toBe(78);
    expect(frenchDefault.stdout).toContain(
      'error: templates/fr/ (the default locale) lacks acknowledgement, agent-reply, resolved',
    );
  });

  it('check names the gaps of communication protocols', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'incidesk-gaps-')), 'plan.yaml');
    writeFileSync(
      file,
      `version: 1
organisation: X
agents: [{ id: ann, name: Ann, email: ann@example.test, groups: [desk] }]
groups: [{ id: desk, name: Desk }]
routing: { default: desk }
communication:
  protocols:
    - name: major
      messages: [{ to: [lead], audience: internal, template: board-memo, at: [opened] }]
`,
    );
    const r = await runIncidesk(['check'], { ...t.env, INCIDESK_PLAN: file });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('warning: protocol "major": template "board-memo" does not exist');
    expect(r.stdout).toContain('warning: protocol "major": group "desk" has no lead to tell');
  });
});
