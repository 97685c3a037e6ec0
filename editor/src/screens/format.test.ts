import { describe, expect, it } from "vitest";
import { ApiError } from "../api/http";
import {
  curlCommand,
  fieldErrors,
  formatAgo,
  formatDuration,
  pathFormUrl,
  routeVariables,
  secretNameProblem,
  slugProblem,
  stageNameProblem,
  suggestSlug,
} from "./format";

describe("suggestSlug", () => {
  it("makes an accepted slug from any name", () => {
    expect(suggestSlug("Café Orders!")).toBe("cafe-orders");
    expect(suggestSlug("  --My   Shop 2--  ")).toBe("my-shop-2");
    expect(suggestSlug("ÜBER_cool")).toBe("uber-cool");
    expect(suggestSlug("!!!")).toBe("");
  });
  it("never ends with a dash after cutting to 57", () => {
    const slug = suggestSlug(`${"a".repeat(56)} b`);
    expect(slug.length).toBeLessThanOrEqual(57);
    expect(slugProblem(slug)).toBeNull();
  });
});

describe("name checks", () => {
  it("follows the API's patterns", () => {
    expect(slugProblem("ok-1")).toBeNull();
    expect(slugProblem("-no")).not.toBeNull();
    expect(slugProblem("No")).not.toBeNull();
    expect(stageNameProblem("staging2")).toBeNull();
    expect(stageNameProblem("pre-prod")).not.toBeNull();
    expect(secretNameProblem("API_KEY")).toBeNull();
    expect(secretNameProblem("1KEY")).not.toBeNull();
  });
});

describe("formatDuration", () => {
  const t0 = "2026-11-22T10:00:00.000Z";
  it("is null before the start and scales its unit", () => {
    expect(formatDuration(null, null)).toBeNull();
    expect(formatDuration(t0, "2026-11-22T10:00:00.250Z")).toBe("250 ms");
    expect(formatDuration(t0, "2026-11-22T10:00:04.200Z")).toBe("4.2 s");
    expect(formatDuration(t0, "2026-11-22T10:03:05.000Z")).toBe("3 min 5 s");
    expect(formatDuration(t0, "2026-11-22T11:02:00.000Z")).toBe("1 h 2 min");
  });
  it("counts up to now while running", () => {
    expect(formatDuration(t0, null, Date.parse("2026-11-22T10:00:30Z"))).toBe("30 s");
  });
});

describe("formatAgo", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");
  it("says how long ago", () => {
    expect(formatAgo("2026-11-22T11:59:50Z", now)).toBe("just now");
    expect(formatAgo("2026-11-22T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo("2026-11-22T09:00:00Z", now)).toBe("3 h ago");
    expect(formatAgo("2026-11-21T10:00:00Z", now)).toBe("yesterday");
    expect(formatAgo("2026-10-01T10:00:00Z", now)).toBe("2026-10-01");
  });
});

describe("pathFormUrl", () => {
  it("moves project and stage from the host into the path", () => {
    expect(pathFormUrl("http://shop-prod.localhost:8080/hello/{name}", "shop", "prod")).toBe(
      "http://localhost:8080/p/shop/prod/hello/{name}",
    );
    expect(pathFormUrl("https://my-shop-dev.example.com/a", "my-shop", "dev")).toBe(
      "https://example.com/p/my-shop/dev/a",
    );
  });
  it("gives up on other hosts", () => {
    expect(pathFormUrl("http://localhost:8080/a", "shop", "prod")).toBeNull();
  });
});

describe("fieldErrors", () => {
  it("places schema errors and conflicts on their field", () => {
    const invalid = new ApiError(422, "invalid", "slug: bad", [{ loc: ["body", "slug"], msg: "bad pattern" }]);
    expect(fieldErrors(invalid, ["name", "slug"], "form")).toEqual({ slug: "bad pattern" });
    const taken = new ApiError(409, "conflict", "the slug is taken", { field: "slug" });
    expect(fieldErrors(taken, ["name", "slug"], "form")).toEqual({ slug: "the slug is taken" });
    expect(fieldErrors(new Error("boom"), ["slug"], "form")).toEqual({ form: "boom" });
  });
});

describe("curlCommand and routeVariables", () => {
  it("says the method unless it is GET and quotes the URL", () => {
    expect(curlCommand("POST", "http://localhost:8080/p/hello/dev/hello/{name}")).toBe(
      "curl -X POST 'http://localhost:8080/p/hello/dev/hello/{name}'",
    );
    expect(curlCommand("get", "http://localhost:8080/a")).toBe("curl 'http://localhost:8080/a'");
  });
  it("lists a path's variables, typed or not", () => {
    expect(routeVariables("/orders/{id:int}/{rest:path}")).toEqual(["id", "rest"]);
    expect(routeVariables("/hello/{name}")).toEqual(["name"]);
    expect(routeVariables("/static")).toEqual([]);
  });
});
