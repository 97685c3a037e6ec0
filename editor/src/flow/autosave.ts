// Autosave with the flow's revision: edits are sent ~700 ms after they stop, one request at a
// time, each based on the revision the server last gave back. A 409 (someone else saved first)
// stops saving until the user picks a side; nothing is overwritten silently.
import type { EditorStore } from "./editorStore";
import type { FlowDocument } from "./types";

export type SaveStatus = "saved" | "pending" | "saving" | "error" | "conflict";

export interface SaveState {
  status: SaveStatus;
  revision: number;
  error: string | null;
  /** The server's revision when a save was refused as stale. */
  conflictRevision: number | null;
}

export interface SaveAnswer {
  revision: number;
}

/** The update call; rejects with `{status: 409, details: {current_revision}}` on a stale revision. */
export type UpdateFlow = (doc: FlowDocument, revision: number) => Promise<SaveAnswer>;

export class Autosaver {
  private state: SaveState;
  private savedVersion: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: EditorStore,
    revision: number,
    private readonly update: UpdateFlow,
    private readonly delayMs = 700,
  ) {
    this.state = { status: "saved", revision, error: null, conflictRevision: null };
    this.savedVersion = store.getState().docVersion;
    let seen = this.savedVersion;
    this.unsubscribe = store.subscribe(() => {
      const version = store.getState().docVersion;
      if (version === seen) return;
      seen = version;
      this.changed();
    });
  }

  getState = (): SaveState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  dispose(): void {
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
  }

  get dirty(): boolean {
    return this.store.getState().docVersion !== this.savedVersion;
  }

  private set(patch: Partial<SaveState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) listener();
  }

  private changed(): void {
    if (this.state.status === "conflict") return;
    if (!this.dirty) return;
    if (this.state.status !== "saving") this.set({ status: "pending" });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, this.delayMs);
  }

  private async run(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (!this.dirty || this.state.status === "conflict") return;
    const { doc, docVersion } = this.store.getState();
    this.set({ status: "saving", error: null });
    this.inFlight = (async () => {
      try {
        const answer = await this.update(doc, this.state.revision);
        this.savedVersion = docVersion;
        this.set({ revision: answer.revision, status: this.dirty ? "pending" : "saved" });
      } catch (error) {
        const e = error as { status?: number; details?: { current_revision?: number }; message?: string };
        if (e.status === 409) {
          this.set({ status: "conflict", conflictRevision: e.details?.current_revision ?? null, error: e.message ?? "conflict" });
        } else {
          this.set({ status: "error", error: e.message ?? String(error) });
        }
      }
    })();
    await this.inFlight;
    this.inFlight = null;
    if (this.dirty && this.state.status === "pending") this.changed();
  }

  /** Saves now; true when the server holds the current document. */
  async flush(): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.dirty && this.state.status !== "conflict") await this.run();
    return !this.dirty && this.state.status === "saved";
  }

  /** The server's document was loaded into the store at this revision: nothing to save. */
  adopt(revision: number): void {
    this.savedVersion = this.store.getState().docVersion;
    this.set({ status: "saved", revision, error: null, conflictRevision: null });
  }

  /** Keep mine: save over the server's newer revision. */
  async overwrite(serverRevision: number): Promise<boolean> {
    this.set({ status: "pending", revision: serverRevision, conflictRevision: null, error: null });
    this.savedVersion = -1;
    return this.flush();
  }
}
