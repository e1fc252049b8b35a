import Type from 'typebox'
import { alertAsset, IsoTimestamp } from '@backstop/shared'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { fleetSummary, FleetSummary } from './compliance.ts'
import { iso } from './schemas.ts'

const COLUMNS = [
  'node',
  'kind',
  'id',
  'tier',
  'lifecycle',
  'verdict',
  'reasons',
  'copies',
  'mediaTypes',
  'offsite',
  'offlineOrImmutable',
  'verificationErrors',
  'lastSuccessAt',
  'alertsRaised',
] as const

/**
 * RFC 4180: quote fields with comma, quote or newline; double the quotes. Leading =+-@ are prefixed against spreadsheet
 * formula injection.
 */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v)
  if (/^[=+\-@]/.test(s)) {
    s = `'${s}`
  }
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** The weekly 3-2-1 report: fleet summary plus one row per asset, as JSON or CSV. */
export function reportRoutes(app: App, deps: Pick<AppDeps, 'assets' | 'alertsRepo' | 'ledger' | 'clock'>): void {
  app.get(
    '/api/v1/reports/weekly',
    {
      schema: {
        tags: ['reports'],
        summary: 'Weekly 3-2-1-1-0 report (JSON, or CSV with format=csv)',
        querystring: Type.Object(
          {
            format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
            end: Type.Optional(IsoTimestamp),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Union([
            Type.Object({
              period: Type.Object({ start: Type.String(), end: Type.String() }),
              summary: FleetSummary,
              assets: Type.Array(Type.Record(Type.String(), Type.Unknown())),
            }),
            Type.String(),
          ]),
          400: ErrorResponse,
        },
      },
    },
    async (req, reply) => {
      const end = req.query.end ? Date.parse(req.query.end) : deps.clock.now()
      const start = end - 7 * 86_400_000
      const raised = new Map<string, number>()
      for (const r of deps.alertsRepo.raisedBetween(start, end)) {
        const asset = alertAsset(r.key)
        if (asset !== undefined) {
          raised.set(asset, (raised.get(asset) ?? 0) + r.n)
        }
      }
      const rows: Record<string, unknown>[] = []
      for (let offset = 0; ; offset += 1000) {
        const page = deps.assets.list({ limit: 1000, offset })
        for (const a of page.items) {
          const alerts = raised.get(`${a.node}/${a.kind}/${a.id}`) ?? 0
          rows.push({
            node: a.node,
            kind: a.kind,
            id: a.id,
            tier: a.tier,
            lifecycle: a.lifecycle,
            verdict: a.verdict,
            reasons: a.reasons.map((r) => r.code).join(' '),
            copies: a.counts.copies ?? 0,
            mediaTypes: a.counts.mediaTypes ?? 0,
            offsite: a.counts.offsite ?? 0,
            offlineOrImmutable: a.counts.offlineOrImmutable ?? 0,
            verificationErrors: a.counts.verificationErrors ?? 0,
            lastSuccessAt: iso(a.lastSuccessAt),
            alertsRaised: alerts,
          })
        }
        if (page.items.length < 1000) {
          break
        }
      }
      const period = { start: new Date(start).toISOString(), end: new Date(end).toISOString() }
      if (req.query.format === 'csv') {
        const lines = [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((k) => csvField(r[k])).join(','))]
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="backstop-weekly-${period.end.slice(0, 10)}.csv"`)
          .send(`${lines.join('\r\n')}\r\n`)
      }
      return { period, summary: fleetSummary(deps), assets: rows }
    },
  )
}
