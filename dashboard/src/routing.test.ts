import { describe, expect, it } from "vitest";
import { hashUrlForPath } from "./routing";

describe("hashUrlForPath", () => {
  it("moves a path deep link into the hash, keeping its query", () => {
    expect(hashUrlForPath({ pathname: "/billing", search: "?checkout=success", hash: "" })).toBe("/#/billing?checkout=success");
    expect(hashUrlForPath({ pathname: "/app/rules/12", search: "", hash: "" })).toBe("/app/#/rules/12");
  });

  it("leaves the app root and hash routes alone", () => {
    expect(hashUrlForPath({ pathname: "/", search: "", hash: "" })).toBeNull();
    expect(hashUrlForPath({ pathname: "/index.html", search: "", hash: "" })).toBeNull();
    expect(hashUrlForPath({ pathname: "/billing", search: "", hash: "#/markets" })).toBeNull();
  });
});
