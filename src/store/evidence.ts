/** What the evidence pack reads: the incidents of a period and what hangs off them. */
import { parse as parseYaml } from 'yaml';
import type { AccessSnapshot, EvidenceInput, IncidentRow } from '../domain/evidence.js';
import { protocolOutboxId } from '../domain/protocols.js';
import { checkAuditChain } from './audit.js';
import { drillRunsBetween } from './drills.js';
import {
  ArchivedIncident,
  ArchivedPlaybookStep,
  Incident,
  Outbox,
  PlanVersion,
  PlaybookStep,
  ProtocolMessage,
  ReviewAction,
  type PlaybookStepDoc,
  type ProtocolMessageDoc,
  type ReviewActionDoc,
} from './models.js';

type Gathered = Omit<EvidenceInput, 'createdAt' | 'createdBy'>;

/**
 * Every incident opened in [from, to), archived ones included, with their playbook steps and
 * review action items; the plan versions in force in the period; the audit chain's check.
 */
export async function gatherEvidence(from: Date, to: Date): Promise<Gathered> {
  const opened = { createdAt: { $gte: from, $lt: to } };
  const [hot, archived] = await Promise.all([
    Incident.find(opened).lean<IncidentRow[]>(),
    ArchivedIncident.find(opened).lean<IncidentRow[]>(),
  ]);
  const incidents = [...hot, ...archived].sort((a, b) => a.number - b.number);
  const numbers = incidents.map((i) => i.number);
  const ofThem = { incidentNumber: { $in: numbers } };
  const [hotSteps, archivedSteps, actions, messages] = await Promise.all([
    PlaybookStep.find(ofThem).lean<PlaybookStepDoc[]>(),
    // Archived incidents' steps went to the archive with them.
    ArchivedPlaybookStep.find(ofThem).lean<PlaybookStepDoc[]>(),
    ReviewAction.find({ incidentNumber: { $in: numbers } })
      .sort({ incidentNumber: 1, _id: 1 })
      .lean<ReviewActionDoc[]>(),
    ProtocolMessage.find({ incidentNumber: { $in: numbers } })
      .sort({ incidentNumber: 1, createdAt: 1, _id: 1 })
      .lean<ProtocolMessageDoc[]>(),
  ]);
  const steps = [...hotSteps, ...archivedSteps].sort(
    (a, b) => a.incidentNumber - b.incidentNumber || a.step - b.step,
  );
  return {
    from,
    to,
    incidents,
    steps,
    actions,
    drills: await drillRunsBetween(from, to),
    communications: await withSentAt(messages),
    planVersions: await planVersionsInForce(from, to),
    audit: await checkAuditChain(),
  };
}

/** The version in force when the period began, and every one recorded during it. */
async function planVersionsInForce(from: Date, to: Date) {
  const atStart = await PlanVersion.findOne({ recordedAt: { $lte: from } })
    .sort({ _id: -1 })
    .lean();
  const during = await PlanVersion.find({ recordedAt: { $gt: from, $lt: to } })
    .sort({ _id: 1 })
    .lean();
  return [...(atStart ? [atStart] : []), ...during].map((v) => ({
    _id: v._id as number,
    version: v.version,
    fingerprint: v.fingerprint,
    recordedAt: v.recordedAt,
    approvedBy: v.approvedBy,
    approvedAt: v.approvedAt,
    note: v.note,
    access: accessOf(v.text),
  }));
}

/** Who could act under a plan's text (read as it was written, even if today's rules differ). */
function accessOf(text: string): AccessSnapshot {
  const plan = (parseYaml(text) ?? {}) as {
    access?: { operators?: { name?: string; role?: string }[]; administrators?: string[] };
    groups?: { id?: string; lead?: string; manager?: string }[];
  };
  return {
    operators: (plan.access?.operators ?? []).map((o) => `${o.name}:${o.role}`).join('; '),
    administrators: (plan.access?.administrators ?? []).join('; '),
    groups: (plan.groups ?? [])
      .map((g) => `${g.id} (lead ${g.lead ?? '-'}, manager ${g.manager ?? '-'})`)
      .join('; '),
  };
}

/** Each protocol message with when the last of its mails was sent (from the outbox). */
async function withSentAt(messages: readonly ProtocolMessageDoc[]) {
  const ids = messages.flatMap((m) => (m.to ?? []).map((a) => protocolOutboxId(m._id, a)));
  const sent = new Map(
    (await Outbox.find({ _id: { $in: ids }, state: 'sent' }, { sentAt: 1 }).lean()).map(
      (o) => [o._id, o.sentAt] as const,
    ),
  );
  return messages.map((m) => {
    const times = (m.to ?? []).map((a) => sent.get(protocolOutboxId(m._id, a)));
    const all = m.state === 'released' && times.length > 0 && times.every(Boolean);
    const last = all ? Math.max(...times.map((t) => t!.getTime())) : null;
    return { ...m, sentAt: last === null ? null : new Date(last) };
  });
}
