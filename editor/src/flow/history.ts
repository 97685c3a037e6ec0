// Undo/redo over immutable snapshots. Edits that share a coalesce key and follow each other
// closely (one drag, typing in one field) become one step, and the past is bounded.

export interface HistoryOptions {
  limit?: number;
  /** Edits with the same key closer than this (ms) merge into one step. */
  coalesceMs?: number;
}

export class History<T> {
  private past: T[] = [];
  private future: T[] = [];
  private lastKey: string | null = null;
  private lastAt = -Infinity;
  private readonly limit: number;
  private readonly coalesceMs: number;

  constructor(options: HistoryOptions = {}) {
    this.limit = options.limit ?? 200;
    this.coalesceMs = options.coalesceMs ?? 1000;
  }

  /** Record `before`, the state an edit is about to replace. */
  record(before: T, key: string | null = null, now: number = Date.now()): void {
    const coalesce = key !== null && key === this.lastKey && now - this.lastAt <= this.coalesceMs;
    this.lastKey = key;
    this.lastAt = now;
    this.future = [];
    if (coalesce) return;
    this.past.push(before);
    if (this.past.length > this.limit) this.past.splice(0, this.past.length - this.limit);
  }

  /** Ends coalescing, so the next edit is a step of its own (e.g. at the end of a drag). */
  seal(): void {
    this.lastKey = null;
  }

  undo(current: T): T | null {
    const previous = this.past.pop();
    if (previous === undefined) return null;
    this.future.push(current);
    this.seal();
    return previous;
  }

  redo(current: T): T | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push(current);
    this.seal();
    return next;
  }

  clear(): void {
    this.past = [];
    this.future = [];
    this.seal();
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }
}
