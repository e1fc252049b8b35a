import Type from 'typebox'
import { assetKinds, NodeId } from '@backstop/shared'

/** Shared pieces of the compliance routes' TypeBox schemas. */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
export const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size, default 100' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
}
export const Tier = Type.Union(['critical', 'standard', 'low'].map((t) => Type.Literal(t)))
export const Lifecycle = Type.Union(['active', 'archived', 'decommissioned'].map((t) => Type.Literal(t)))
export const VerdictStatus = Type.Union(['compliant', 'non-compliant', 'exempt'].map((t) => Type.Literal(t)))
export const Severity = Type.Union(['info', 'warning', 'critical'].map((t) => Type.Literal(t)))
export const AssetKindParam = Type.Union(assetKinds.map((k) => Type.Literal(k)))
export const AssetSelector = Type.Object(
  {
    node: NodeId,
    kind: AssetKindParam,
    id: Type.String({ minLength: 1, maxLength: 512 }),
  },
  { additionalProperties: false },
)

export const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

export function page(q: { limit?: number | undefined; offset?: number | undefined }): {
  limit: number
  offset: number
} {
  return { limit: q.limit ?? 100, offset: q.offset ?? 0 }
}

export function nextOffset(total: number, limit: number, offset: number): number | null {
  return offset + limit < total ? offset + limit : null
}
