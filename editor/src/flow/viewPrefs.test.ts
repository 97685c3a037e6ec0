import { describe, expect, it } from "vitest";
import { MINIMAP_AUTO_LIMIT, minimapShown, readMinimapPreference } from "./viewPrefs";

describe("minimap preference", () => {
  it("shows the mini map for ordinary flows and hides it for huge ones by default", () => {
    expect(minimapShown(null, 10)).toBe(true);
    expect(minimapShown(null, MINIMAP_AUTO_LIMIT)).toBe(true);
    expect(minimapShown(null, MINIMAP_AUTO_LIMIT + 1)).toBe(false);
  });

  it("lets the user's choice win either way", () => {
    expect(minimapShown("on", 5000)).toBe(true);
    expect(minimapShown("off", 3)).toBe(false);
  });

  it("reads only known values from storage", () => {
    expect(readMinimapPreference({ getItem: () => "on" })).toBe("on");
    expect(readMinimapPreference({ getItem: () => "garbage" })).toBe(null);
    expect(readMinimapPreference(null)).toBe(null);
  });
});
