/** Post-incident review action items: due dates, identifiers and reminders. Pure. */

const DAY_MS = 86_400_000;

/**
 * An action item due on a calendar date is due at the END of that day (UTC), so that
 * "overdue" is simply `dueAt < now` for anyone reading the stored date.
 */
export function parseDueDate(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const start = new Date(Date.UTC(y, mo - 1, d));
  if (start.getUTCFullYear() !== y || start.getUTCMonth() !== mo - 1 || start.getUTCDate() !== d)
    return null;
  return new Date(start.getTime() + DAY_MS - 1);
}

export const utcDay = (d: Date) => d.toISOString().slice(0, 10);

export const actionItemId = (incidentNumber: number, k: number) => `${incidentNumber}-${k}`;

/** `12-3`, `INC-000012-3`, or (with the incident known from context) just `3`. */
export function parseActionItemId(s: string, contextIncident?: number): string | null {
  const m = /^(?:(?:inc-?)?0*(\d+)-)?0*(\d+)$/i.exec(s.trim());
  if (!m) return null;
  const incident = m[1] !== undefined ? Number(m[1]) : contextIncident;
  if (incident === undefined || !Number.isSafeInteger(incident) || incident < 1) return null;
  const k = Number(m[2]);
  return Number.isSafeInteger(k) && k >= 1 ? actionItemId(incident, k) : null;
}

export interface ReminderState {
  dueAt: Date;
  doneAt?: Date | null;
  lastRemindedAt?: Date | null;
}

/**
 * Whether the owner gets a reminder now: not when done, at most once per UTC day, and only
 * from `remindBeforeMs` before the due date ('due-soon') or after it ('overdue').
 */
export function reminderDue(
  item: ReminderState,
  now: Date,
  remindBeforeMs: number,
): 'due-soon' | 'overdue' | null {
  if (item.doneAt) return null;
  if (item.lastRemindedAt && utcDay(item.lastRemindedAt) === utcDay(now)) return null;
  if (now.getTime() > item.dueAt.getTime()) return 'overdue';
  if (now.getTime() >= item.dueAt.getTime() - remindBeforeMs) return 'due-soon';
  return null;
}
