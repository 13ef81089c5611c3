/**
 * Priorities and their classes. An event's `priority` is 1 (most urgent) to 10 (least), or a class
 * name; each class has its own durable queue and its own consumers, so a backlog in one never holds up
 * another:
 *
 * | priority | class | queue |
 * |---|---|---|
 * | 1–3, `"high"` | high | `<prefix>.notify.high` |
 * | 4–7, `"normal"` (default 5) | normal | `<prefix>.notify.normal` |
 * | 8–10, `"low"` | low | `<prefix>.notify.low` |
 */

export const PRIORITY_CLASSES = ['high', 'normal', 'low'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 10;
export const DEFAULT_PRIORITY = 5;

/** The number a class name stands for when an event gives a name instead of a number. */
const CLASS_PRIORITY: Readonly<Record<PriorityClass, number>> = { high: 1, normal: DEFAULT_PRIORITY, low: 10 };

export function priorityClassOf(priority: number): PriorityClass {
  if (priority <= 3) return 'high';
  if (priority <= 7) return 'normal';
  return 'low';
}

export function priorityOfClass(priorityClass: PriorityClass): number {
  return CLASS_PRIORITY[priorityClass];
}

/** The work queue of a class, without the driver's prefix. */
export function classQueue(priorityClass: PriorityClass): string {
  return `notify.${priorityClass}`;
}
