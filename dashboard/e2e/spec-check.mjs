/**
 * Checks responses against docs/openapi.json: the route must exist in the spec, the status must
 * be one it documents, and a JSON body must validate against the documented schema (JSON Schema
 * 2020-12, as OpenAPI 3.1 uses). The mock API runs every response it sends through this, so the
 * stand-in cannot drift from the real API's contract unnoticed.
 */
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const SPEC_PATH = new URL("../../docs/openapi.json", import.meta.url);

function pointer(parts) {
  return parts.map((p) => encodeURIComponent(String(p).replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");
}

export function createSpecChecker(spec = JSON.parse(readFileSync(SPEC_PATH, "utf8"))) {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  ajv.addSchema({ $id: "openapi", components: spec.components, paths: spec.paths });
  const routes = Object.keys(spec.paths).map((template) => ({
    template,
    regex: new RegExp("^" + template.replace(/\{[^}]+\}/g, "[^/]+") + "$"),
  }));
  const compiled = new Map();

  /** An error message, or null when the response is what the spec documents. */
  function check(method, path, status, contentType, body) {
    const m = method.toLowerCase();
    const route = routes.find((r) => r.regex.test(path) && spec.paths[r.template][m]);
    if (!route) return `${method} ${path}: no such route in the spec`;
    const responses = spec.paths[route.template][m].responses ?? {};
    const documented = responses[String(status)] ?? responses.default;
    if (!documented) return `${method} ${route.template}: status ${status} is not documented (${Object.keys(responses).join(", ")})`;
    const media = Object.keys(documented.content ?? {});
    if (!media.length) return null; // 204 and friends: no body documented
    const type = (contentType ?? "").split(";")[0].trim();
    if (!media.includes(type)) return `${method} ${route.template} ${status}: content type ${type} is not ${media.join(" or ")}`;
    const ref = "openapi#/" + pointer(["paths", route.template, m, "responses", String(documented === responses.default ? "default" : status), "content", type, "schema"]);
    let validate = compiled.get(ref);
    if (!validate) {
      validate = ajv.compile({ $ref: ref });
      compiled.set(ref, validate);
    }
    if (validate(body)) return null;
    const first = validate.errors?.[0];
    return `${method} ${route.template} ${status}: ${first?.instancePath || "body"} ${first?.message} (${JSON.stringify(first?.params)})`;
  }

  return { check };
}
