import { describe, expect, it } from 'vitest';
import { evidenceFiles, verifyEvidence, type EvidenceInput } from '../../src/domain/evidence.js';

const H = 3_600_000;
const t0 = new Date('2026-10-01T00:00:00Z');
const input: EvidenceInput = {
  from: t0,
  to: new Date('2027-01-01T00:00:00Z'),
  createdAt: new Date('2027-01-02T09:00:00Z'),
  createdBy: 'mia-ops',
  planVersions: [
    {
      _id: 3,
      version: 7,
      fingerprint: 'v7-abc',
      recordedAt: t0,
      approvedBy: 'mia-ops',
      approvedAt: t0,
      note: 'annual review',
      access: {
        operators: 'ops:administrator',
        administrators: 'mia',
        groups: 'desk (lead al, manager mia)',
      },
    },
  ],
  incidents: [
    {
      number: 1,
      createdAt: t0,
      status: 'resolved',
      priority: 'P1',
      category: 'security',
      sla: {
        firstResponse: { targetMs: 15 * 60_000, runningSince: null, breachedAt: null },
        resolution: {
          targetMs: 4 * H,
          runningSince: null,
          breachedAt: new Date(t0.getTime() + 4 * H),
        },
        escalationLevel: 1,
      },
      review: { lessons: [{ id: 'lesson-1', text: 'alerts, please', by: 'olga', at: t0 }] },
    },
    { number: 2, createdAt: t0, status: 'new', sla: null },
  ],
  steps: [
    {
      incidentNumber: 1,
      step: 1,
      category: 'security',
      phase: 'containment',
      title: 'Isolate, then "image"',
      owner: 'assignee',
      mandatory: true,
      state: 'skipped',
      by: 'olga',
      reason: 'no host',
    },
  ],
  actions: [
    { _id: '1-1', incidentNumber: 1, owner: 'olga@example.test', text: '=add alerts', dueAt: t0 },
  ],
  drills: [
    {
      _id: 'drill-20261115T100000Z-a1b2c3',
      scenario: 'Ransomware on a laptop',
      plan: 'v7-abc',
      ranAt: new Date('2026-11-15T10:00:00Z'),
      by: 'mia-ops',
      findings: [{ kind: 'no-playbook', subject: 'category network', text: 'no playbook' }],
    },
  ],
  communications: [
    {
      incidentNumber: 1,
      protocol: 'customer-outage',
      moment: 'opened',
      occurrence: 0,
      recipient: 'customer:sam@customer.example',
      to: ['sam@customer.example'],
      audience: 'external',
      template: 'stakeholder-update',
      state: 'released',
      approvedBy: 'dave',
      createdAt: t0,
      sentAt: new Date(t0.getTime() + 60_000),
    },
    {
      incidentNumber: 1,
      protocol: 'major-incident',
      moment: 'interval',
      occurrence: 2,
      recipient: 'list:leadership',
      to: ['cto@example.test', 'ceo@example.test'],
      audience: 'internal',
      template: 'stakeholder-briefing',
      state: 'released',
      createdAt: t0,
      sentAt: null,
    },
  ],
  audit: { intact: true, entries: 12, head: { seq: 12, hash: 'f'.repeat(64) } },
};

describe('evidence pack', () => {
  const files = evidenceFiles(input);
  const text = (name: string) => files.find((f) => f.name === name)!.data.toString('utf8');

  it('has a README, a manifest and one file per topic', () => {
    expect(files.map((f) => f.name)).toEqual([
      'README.txt',
      'manifest.json',
      'plan-versions.csv',
      'access.csv',
      'incidents.csv',
      'sla.csv',
      'playbook-steps.csv',
      'communications.csv',
      'reviews.csv',
      'drills.json',
      'audit-verification.json',
    ]);
    expect(text('README.txt')).toMatch(/drills\.json\s+1 row\(s\) {2}table-top drills/);
    expect(text('README.txt')).toMatch(/incidents\.csv\s+2 row\(s\)/);
    expect(JSON.parse(text('manifest.json')).files[2]).toMatchObject({
      name: 'incidents.csv',
      rows: 2,
    });
  });

  it('writes the register, compliance, steps and reviews as CSV a spreadsheet reads safely', () => {
    expect(text('incidents.csv').split('\r\n')[1]).toBe(
      '1,2026-10-01T00:00:00.000Z,,resolved,security,,,P1,,,1,,,',
    );
    expect(text('sla.csv').split('\r\n').slice(1, 3)).toEqual([
      '1,P1,15,met,240,breached',
      '2,,,,,',
    ]);
    expect(text('playbook-steps.csv')).toContain('"Isolate, then ""image"""');
    expect(text('communications.csv').split('\r\n').slice(0, 3)).toEqual([
      'incident,protocol,moment,occurrence,recipient,to,audience,template,state,createdAt,sentAt,approvedBy',
      '1,customer-outage,opened,0,customer:sam@customer.example,sam@customer.example,external,stakeholder-update,released,2026-10-01T00:00:00.000Z,2026-10-01T00:01:00.000Z,dave',
      '1,major-incident,interval,2,list:leadership,cto@example.test; ceo@example.test,internal,stakeholder-briefing,released,2026-10-01T00:00:00.000Z,,',
    ]);
    expect(text('reviews.csv')).toContain("1,action,1-1,'=add alerts,olga@example.test");
    expect(text('reviews.csv')).toContain('1,lesson,lesson-1,"alerts, please",olga');
    expect(JSON.parse(text('audit-verification.json'))).toEqual(input.audit);
    expect(JSON.parse(text('drills.json'))).toEqual([
      { ...input.drills[0], ranAt: '2026-11-15T10:00:00.000Z' },
    ]);
  });

  it('verifies as made; a changed, missing or added file is named', () => {
    expect(verifyEvidence(files)).toEqual([]);
    const changed = files.map((f) =>
      f.name === 'sla.csv'
        ? { ...f, data: Buffer.from(f.data.toString().replace('breached', 'met')) }
        : f,
    );
    expect(verifyEvidence(changed)).toEqual([
      'sla.csv: sha256 does not match the manifest (changed)',
    ]);
    expect(verifyEvidence(files.filter((f) => f.name !== 'reviews.csv'))).toEqual([
      'reviews.csv: missing',
    ]);
    expect(verifyEvidence([...files, { name: 'extra.csv', data: Buffer.from('x') }])).toEqual([
      'extra.csv: not in the manifest',
    ]);
    expect(verifyEvidence(files.filter((f) => f.name !== 'manifest.json'))).toEqual([
      'no manifest.json',
    ]);
  });
});
