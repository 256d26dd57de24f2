/** Naming the database commands the driver reports (for tests and the benchmark's profile). */

/**
 * The collection(s) a command is about: its own field names one (`find: "incidents"`); a
 * `bulkWrite` (writes to several collections in one command) names them in its `nsInfo`,
 * joined with "+" in the order they come ("incidents+timeline").
 */
export function collectionsOf(command: Record<string, unknown>, commandName: string): string {
  if (commandName === 'bulkWrite') {
    const nsInfo = (command.nsInfo ?? []) as { ns: string }[];
    return nsInfo.map(({ ns }) => ns.slice(ns.indexOf('.') + 1)).join('+');
  }
  if (commandName === 'getMore') return String(command.collection);
  return String(command[commandName]);
}

/**
 * How many documents a write command writes to each collection (inserts, updates and deletes
 * alike): `{ incidents: 3 }` for an insert of three; a `bulkWrite` may name several.
 */
export function writesOf(
  command: Record<string, unknown>,
  commandName: string,
): Record<string, number> {
  if (commandName === 'bulkWrite') {
    const names = collectionsOf(command, commandName).split('+');
    const counts: Record<string, number> = {};
    for (const op of (command.ops ?? []) as Record<string, unknown>[]) {
      const index = op.insert ?? op.update ?? op.delete;
      const name = names[Number(index)]!;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }
  const items = (command.documents ?? command.updates ?? command.deletes) as unknown[] | undefined;
  return items ? { [collectionsOf(command, commandName)]: items.length } : {};
}
