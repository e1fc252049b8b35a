import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { buildApp } from '../../collector/src/app.ts'
import { harness, T0 } from '../../collector/test/ledger/harness.ts'
import { appDepsOf } from '../../collector/test/support/app-deps.ts'

/**
 * The API half of the authorization matrix, over every route the OpenAPI document lists (so a new route is covered
 * without editing this file), and an API fuzz: generated paths, query strings and bodies → 4xx, never 5xx.
 */
function setup() {
  const h = harness()
  const deps = appDepsOf(h)
  return { h, app: buildApp(deps), tokens: deps.tokens }
}

interface Route {
  readonly method: string
  readonly path: string
}

async function routes(app: ReturnType<typeof setup>['app']): Promise<Route[]> {
  const doc = (await app.inject('/docs/json')).json() as { paths: Record<string, Record<string, unknown>> }
  const out: Route[] = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) {
        out.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') })
      }
    }
  }
  return out.filter((r) => r.path.startsWith('/api/'))
}

describe('authorization matrix: API', () => {
  it('401 without a token; viewer cannot mutate; operator cannot manage tokens; admin is never refused', async (t) => {
    const { h, app, tokens } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const viewer = tokens.create('v', 'viewer', T0).token
    const operator = tokens.create('o', 'operator', T0).token
    const admin = tokens.create('a', 'admin', T0).token
    const all = await routes(app)
    assert.ok(all.length >= 10, `OpenAPI lists ${all.length} API routes`)
    const rows: string[] = []
    for (const r of all) {
      const status = async (token?: string): Promise<number> =>
        (
          await app.inject({
            method: r.method as 'GET',
            url: r.path,
            headers: token ? { authorization: `Bearer ${token}` } : {},
            ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { payload: {} }),
          })
        ).statusCode
      const s = {
        none: await status(),
        bad: await status('bk_not_a_token'),
        viewer: await status(viewer),
        operator: await status(operator),
        admin: await status(admin),
      }
      rows.push(`${r.method} ${r.path}: ${JSON.stringify(s)}`)
      assert.equal(s.none, 401, `${r.method} ${r.path} without a token`)
      assert.equal(s.bad, 401, `${r.method} ${r.path} with an unknown token`)
      if (r.method !== 'GET') {
        assert.equal(s.viewer, 403, `viewer may not ${r.method} ${r.path}`)
      }
      if (r.path.startsWith('/api/v1/tokens')) {
        assert.equal(s.operator, 403, `operator may not manage tokens: ${r.method} ${r.path}`)
      }
      assert.ok(s.admin !== 401 && s.admin !== 403, `admin refused on ${r.method} ${r.path}: ${s.admin}`)
      // Roles are ordered: whatever a weaker role may do, a stronger one may too.
      if (s.viewer !== 403) {
        assert.notEqual(s.operator, 403, `${r.method} ${r.path}: viewer allowed but operator refused`)
      }
    }
    console.log(`# api-matrix ${rows.length} routes\n# ${rows.join('\n# ')}`)
  })

  it('fuzzed paths, query strings and bodies: 4xx, never 5xx', async (t) => {
    const { h, app, tokens } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const admin = tokens.create('a', 'admin', T0).token
    const all = await routes(app)
    const word = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        '-1',
        '0',
        '1e309',
        'NaN',
        'null',
        '[]',
        '{}',
        '../../etc/passwd',
        '%00',
        'x'.repeat(2000),
        '🦀',
        'true',
      ),
    )
    let requests = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...all),
        fc.dictionary(
          fc.constantFrom(
            'node',
            'kind',
            'id',
            'limit',
            'afterSeq',
            'verdict',
            'status',
            'job',
            'since',
            'until',
            'role',
            'name',
            'action',
            'x',
          ),
          word,
          { maxKeys: 4 },
        ),
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined), fc.string()),
        word,
        async (r, query, body, seg) => {
          const path = r.path.replace(/\/x(\/|$)/g, `/${encodeURIComponent(seg)}$1`)
          const qs = new URLSearchParams(query).toString()
          const res = await app.inject({
            method: r.method as 'GET',
            url: `${path}${qs ? `?${qs}` : ''}`,
            headers: {
              authorization: `Bearer ${admin}`,
              ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}),
            },
            ...(r.method === 'GET' || body === undefined
              ? {}
              : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
          })
          requests++
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
          assert.ok(
            res.statusCode < 500,
            `${r.method} ${path}?${qs} body=${JSON.stringify(body)?.slice(0, 200)}` +
              ` → ${res.statusCode} ${res.body.slice(0, 300)}`,
          )
        },
      ),
      { numRuns: Number(process.env['FUZZ_API_RUNS'] ?? 3000), seed: 11 },
    )
    console.log(
      `# api-fuzz ${JSON.stringify({ requests, routes: all.length, statuses: Object.fromEntries(statuses) })}`,
    )
  })
})
