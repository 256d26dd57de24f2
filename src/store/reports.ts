/** The incidents a report covers. */
import type { ReportIncident } from '../domain/report.js';
import { Incident, type IncidentDoc } from './models.js';

export interface ReportFilter {
  from: Date;
  /** Exclusive. */
  to: Date;
  group?: string;
  priority?: string;
  category?: string;
  status?: string;
  /** An address, or a domain (every address at it). */
  customer?: string;
}

/** Incidents opened in [from, to) that pass the filters, oldest first. */
export async function incidentsForReport(filter: ReportFilter): Promise<ReportIncident[]> {
  const query: Record<string, unknown> = { createdAt: { $gte: filter.from, $lt: filter.to } };
  for (const key of ['group', 'priority', 'category', 'status'] as const)
    if (filter[key]) query[key] = filter[key];
  const customer = filter.customer?.toLowerCase();
  if (customer?.includes('@')) query['customer.address'] = customer;
  const rows = await Incident.find(query, {
    number: 1,
    subject: 1,
    status: 1,
    priority: 1,
    category: 1,
    group: 1,
    assignee: 1,
    customer: 1,
    createdAt: 1,
    resolvedAt: 1,
  })
    .sort({ number: 1 })
    .lean<IncidentDoc[]>();
  return rows
    .filter(
      (r) =>
        !customer ||
        customer.includes('@') ||
        r.customer.address.toLowerCase().endsWith(`@${customer}`),
    )
    .map((r) => ({
      number: r.number,
      subject: r.subject,
      status: r.status,
      priority: r.priority,
      category: r.category,
      group: r.group,
      assignee: r.assignee,
      customer: r.customer.address,
      openedAt: r.createdAt as Date,
      resolvedAt: r.resolvedAt,
    }));
}
