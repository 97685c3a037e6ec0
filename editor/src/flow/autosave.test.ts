import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Autosaver } from "./autosave";
import { EditorStore } from "./editorStore";
import type { FlowDocument } from "./types";

const doc: FlowDocument = { schema_version: 1, name: "A", nodes: [], edges: [] };

describe("autosave", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("debounces edits and saves with the last revision", async () => {
    const store = new EditorStore(doc);
    const calls: Array<[string, number]> = [];
    const saver = new Autosaver(store, 3, async (d, revision) => {
      calls.push([d.name, revision]);
      return { revision: revision + 1 };
    });
    store.rename("B");
    store.rename("C");
    expect(saver.getState().status).toBe("pending");
    await vi.advanceTimersByTimeAsync(800);
    expect(calls).toEqual([["C", 3]]);
    expect(saver.getState()).toMatchObject({ status: "saved", revision: 4 });
    store.rename("D");
    expect(await saver.flush()).toBe(true);
    expect(calls).toEqual([["C", 3], ["D", 4]]);
  });

  it("stops on a conflict until the user chooses, then overwrites with the server's revision", async () => {
    const store = new EditorStore(doc);
    let server = 7;
    const saver = new Autosaver(store, 5, async (_d, revision) => {
      if (revision !== server) throw Object.assign(new Error("stale"), { status: 409, details: { current_revision: server } });
      return { revision: ++server };
    });
    store.rename("Mine");
    expect(await saver.flush()).toBe(false);
    expect(saver.getState()).toMatchObject({ status: "conflict", conflictRevision: 7 });
    store.rename("Mine too");
    await vi.advanceTimersByTimeAsync(800);
    expect(saver.getState().status).toBe("conflict");
    expect(await saver.overwrite(7)).toBe(true);
    expect(saver.getState()).toMatchObject({ status: "saved", revision: 8 });
  });

  it("adopts a reloaded document without saving it back", async () => {
    const store = new EditorStore(doc);
    const update = vi.fn(async () => ({ revision: 2 }));
    const saver = new Autosaver(store, 1, update);
    store.load({ ...doc, name: "Theirs" });
    saver.adopt(9);
    await vi.advanceTimersByTimeAsync(800);
    expect(update).not.toHaveBeenCalled();
    expect(saver.getState()).toMatchObject({ status: "saved", revision: 9 });
  });
});
