/**
 * The evidence pack an auditor asks for: one CSV or JSON file per topic, a manifest of their
 * sha256 values and a short README, in a ZIP. Pure: the rows come from src/store/evidence.ts.
 */
import { createHash } from 'node:crypto';
import type { ReviewActionLike } from './digest.js';
import { toCsv } from './report.js';
import type { ZipFile } from './zip.js';

export const EVIDENCE_FORMAT = 'incidesk-evidence';
export const MANIFEST = 'manifest.json';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : '');
const str = (v: unknown) => (v === null || v === undefined ? '' : String(v));

export interface Clock {
  targetMs?: number;
  runningSince?: Date | null;
  breachedAt?: Date | null;
}
export interface IncidentRow {
  number: number;
  createdAt: Date;
  triagedAt?: Date | null;
  status: string;
  category?: string | null;
  impact?: string | null;
  urgency?: string | null;
  priority?: string | null;
  group?: string | null;
  assignee?: string | null;
  firstRespondedAt?: Date | null;
  resolvedAt?: Date | null;
  closedAt?: Date | null;
  sla?: {
    firstResponse?: Clock | null;
    resolution?: Clock | null;
    escalationLevel?: number | null;
  } | null;
  review?: {
    lessons?:
      { id?: string | null; text?: string | null; by?: string | null; at?: Date | null }[] | null;
  } | null;
}
export interface EvidenceInput {
  from: Date;
  to: Date;
  createdAt: Date;
  createdBy: string;
  planVersions: {
    _id: number;
    version: number;
    fingerprint: string;
    recordedAt: Date;
    approvedBy?: string | null;
    approvedAt?: Date | null;
    note?: string | null;
    access: AccessSnapshot;
  }[];
  incidents: IncidentRow[];
  steps: {
    incidentNumber: number;
    step: number;
    category: string;
    phase: string;
    title: string;
    owner: string;
    mandatory: boolean;
    dueAt?: Date | null;
    state: string;
    closedAt?: Date | null;
    by?: string | null;
    reason?: string | null;
  }[];
  actions: ReviewActionLike[];
  /** Table-top drill runs made in the period (`incidesk drill`), with their findings. */
  drills: DrillRunRecord[];
  /** Messages owed under communication protocols, with when their mail was sent. */
  communications: {
    incidentNumber: number;
    protocol: string;
    moment: string;
    occurrence: number;
    recipient: string;
    to?: string[] | null;
    audience: string;
    template: string;
    state: string;
    approvedBy?: string | null;
    createdAt: Date;
    /** When the last of its mails was sent; none while any is unsent (or never released). */
    sentAt?: Date | null;
  }[];
  audit: Record<string, unknown>;
}
/** A stored drill run as the pack shows it: the whole record, timeline included. */
export interface DrillRunRecord {
  _id: string;
  scenario: string;
  plan: string;
  ranAt: Date;
  by?: string | null;
  findings?: unknown;
  [key: string]: unknown;
}
/** Who could do what under one plan version: operators, administrators, groups. */
export interface AccessSnapshot {
  operators: string;
  administrators: string;
  groups: string;
}

/** A clock's verdict: met, breached, or still running (not yet judged). */
function compliance(c: Clock | null | undefined): string {
  if (!c) return '';
  if (c.breachedAt) return 'breached';
  return c.runningSince ? 'running' : 'met';
}

/** The pack's files, manifest and README included, in a fixed order. */
export function evidenceFiles(input: EvidenceInput): ZipFile[] {
  const topics: { name: string; rows: number; text: string; what: string }[] = [];
  const csv = (name: string, what: string, header: string[], rows: string[][]) =>
    topics.push({ name, what, rows: rows.length, text: toCsv(header, rows) });
  csv(
    'plan-versions.csv',
    'every plan version in force during the period, and who approved it at an annual review',
    ['planVersion', 'version', 'fingerprint', 'recordedAt', 'approvedBy', 'approvedAt', 'note'],
    input.planVersions.map((v) => [
      str(v._id),
      str(v.version),
      v.fingerprint,
      iso(v.recordedAt),
      str(v.approvedBy),
      iso(v.approvedAt),
      str(v.note),
    ]),
  );
  csv(
    'access.csv',
    'who could act under each plan version: CLI operators, administrators, groups with lead and manager',
    ['planVersion', 'recordedAt', 'operators', 'administrators', 'groups'],
    input.planVersions.map((v) => [
      str(v._id),
      iso(v.recordedAt),
      v.access.operators,
      v.access.administrators,
      v.access.groups,
    ]),
  );
  csv(
    'incidents.csv',
    'the incident register: every incident opened in the period, classification, priority, assignment, escalation and timestamps',
    [
      'incident',
      'openedAt',
      'triagedAt',
      'status',
      'category',
      'impact',
      'urgency',
      'priority',
      'group',
      'assignee',
      'escalationLevel',
      'firstRespondedAt',
      'resolvedAt',
      'closedAt',
    ],
    input.incidents.map((i) => [
      str(i.number),
      iso(i.createdAt),
      iso(i.triagedAt),
      i.status,
      str(i.category),
      str(i.impact),
      str(i.urgency),
      str(i.priority),
      str(i.group),
      str(i.assignee),
      str(i.sla?.escalationLevel ?? 0),
      iso(i.firstRespondedAt),
      iso(i.resolvedAt),
      iso(i.closedAt),
    ]),
  );
  csv(
    'sla.csv',
    'SLA compliance per incident: first response and resolution, met, breached or still running',
    [
      'incident',
      'priority',
      'firstResponseTargetMinutes',
      'firstResponse',
      'resolutionTargetMinutes',
      'resolution',
    ],
    input.incidents.map((i) => [
      str(i.number),
      str(i.priority),
      minutes(i.sla?.firstResponse),
      compliance(i.sla?.firstResponse),
      minutes(i.sla?.resolution),
      compliance(i.sla?.resolution),
    ]),
  );
  csv(
    'playbook-steps.csv',
    "each incident's playbook steps, with their state, who closed them and why",
    [
      'incident',
      'step',
      'category',
      'phase',
      'title',
      'owner',
      'mandatory',
      'dueAt',
      'state',
      'closedAt',
      'by',
      'reason',
    ],
    input.steps.map((s) => [
      str(s.incidentNumber),
      str(s.step),
      s.category,
      s.phase,
      s.title,
      s.owner,
      str(s.mandatory),
      iso(s.dueAt),
      s.state,
      iso(s.closedAt),
      str(s.by),
      str(s.reason),
    ]),
  );
  csv(
    'communications.csv',
    'messages under communication protocols: who was told what, when, and who approved it',
    [
      'incident',
      'protocol',
      'moment',
      'occurrence',
      'recipient',
      'to',
      'audience',
      'template',
      'state',
      'createdAt',
      'sentAt',
      'approvedBy',
    ],
    input.communications.map((c) => [
      str(c.incidentNumber),
      c.protocol,
      c.moment,
      str(c.occurrence),
      c.recipient,
      (c.to ?? []).join('; '),
      c.audience,
      c.template,
      c.state,
      iso(c.createdAt),
      iso(c.sentAt),
      str(c.approvedBy),
    ]),
  );
  csv(
    'reviews.csv',
    'post-incident reviews: lessons learned and action items with owners, due and done dates',
    ['incident', 'kind', 'id', 'text', 'owner', 'at', 'dueAt', 'doneAt'],
    [
      ...input.incidents.flatMap((i) =>
        (i.review?.lessons ?? []).map((l) => [
          str(i.number),
          'lesson',
          str(l.id),
          str(l.text),
          str(l.by),
          iso(l.at),
          '',
          '',
        ]),
      ),
      ...input.actions.map((a) => [
        str(a.incidentNumber),
        'action',
        a._id,
        a.text,
        a.owner,
        '',
        iso(a.dueAt),
        iso(a.doneAt),
      ]),
    ],
  );
  topics.push({
    name: 'drills.json',
    what: 'table-top drills run in the period: scenario, plan version, who ran it, the simulated timeline and the gaps found',
    rows: input.drills.length,
    text: `${JSON.stringify(input.drills, null, 2)}\n`,
  });
  topics.push({
    name: 'audit-verification.json',
    what: 'the audit chain checked link by link when the pack was made',
    rows: 1,
    text: `${JSON.stringify(input.audit, null, 2)}\n`,
  });
  const files = topics.map((t) => ({ name: t.name, data: Buffer.from(t.text, 'utf8') }));
  const manifest = {
    format: EVIDENCE_FORMAT,
    formatVersion: 1,
    from: input.from.toISOString(),
    to: input.to.toISOString(),
    createdAt: input.createdAt.toISOString(),
    createdBy: input.createdBy,
    files: files.map((f, i) => ({
      name: f.name,
      bytes: f.data.length,
      rows: topics[i]!.rows,
      sha256: sha256(f.data),
    })),
  };
  const readme = [
    `incidesk evidence pack, ${manifest.from} to ${manifest.to} (end exclusive)`,
    `made ${manifest.createdAt} by ${manifest.createdBy}`,
    '',
    ...topics.map((t) => `${t.name.padEnd(24)} ${String(t.rows).padStart(6)} row(s)  ${t.what}`),
    '',
    `${MANIFEST} lists every file with its sha256. Check the pack with`,
    '  incidesk evidence verify <this file>.zip',
    'or by hand: sha256sum each file and compare. Keep the sha256 of the whole pack, printed when',
    'it was made, apart from it: it shows the manifest itself was not changed.',
    '',
  ].join('\n');
  return [
    { name: 'README.txt', data: Buffer.from(readme, 'utf8') },
    { name: MANIFEST, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8') },
    ...files,
  ];
}

function minutes(c: Clock | null | undefined): string {
  return c?.targetMs ? String(Math.round(c.targetMs / 60_000)) : '';
}

/** What is wrong with a pack's files against its manifest (empty: it verifies). */
export function verifyEvidence(files: readonly ZipFile[]): string[] {
  const byName = new Map(files.map((f) => [f.name, f.data]));
  const raw = byName.get(MANIFEST);
  if (!raw) return [`no ${MANIFEST}`];
  let manifest: { format?: string; files?: { name: string; sha256: string; bytes: number }[] };
  try {
    manifest = JSON.parse(raw.toString('utf8')) as typeof manifest;
  } catch {
    return [`${MANIFEST} is not JSON`];
  }
  if (manifest.format !== EVIDENCE_FORMAT || !Array.isArray(manifest.files))
    return [`${MANIFEST} is not an incidesk evidence manifest`];
  const problems: string[] = [];
  const listed = new Set<string>([MANIFEST, 'README.txt']);
  for (const f of manifest.files) {
    listed.add(f.name);
    const data = byName.get(f.name);
    if (!data) problems.push(`${f.name}: missing`);
    else if (sha256(data) !== f.sha256)
      problems.push(`${f.name}: sha256 does not match the manifest (changed)`);
  }
  for (const name of byName.keys())
    if (!listed.has(name)) problems.push(`${name}: not in the manifest`);
  return problems;
}
