/**
 * Request and response types of every route, taken from the generated `schema.d.ts`
 * (openapi-typescript over docs/openapi.json; `npm run gen:api`): a route, parameter or field the
 * API does not have is a compile error, not a runtime surprise.
 */
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type ApiPath = keyof paths;
export type Method = "get" | "post" | "patch" | "put" | "delete";

type Operation<P extends ApiPath, M extends Method> = NonNullable<paths[P][M]>;
type Json<R> = R extends { content: { "application/json": infer B } } ? B : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;

/** The JSON body of the route's success response (200, or 201 for creations; 204 is undefined). */
export type ResponseOf<P extends ApiPath, M extends Method> =
  200 extends keyof Responses<Operation<P, M>>
    ? Json<Responses<Operation<P, M>>[200]>
    : 201 extends keyof Responses<Operation<P, M>>
      ? Json<Responses<Operation<P, M>>[201]>
      : undefined;

export type BodyOf<P extends ApiPath, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
export type QueryOf<P extends ApiPath, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? (Q extends undefined ? never : Q) : never;
export type PathParamsOf<P extends ApiPath, M extends Method> =
  Operation<P, M> extends { parameters: { path: infer X } } ? (X extends undefined ? never : X) : never;

/** `/markets/{market_id}` with its parameters filled in (URI-encoded). */
export function fillPath(template: string, params: Record<string, string | number> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`Missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(value));
  });
}
