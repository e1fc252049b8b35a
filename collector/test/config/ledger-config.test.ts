import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tierPolicies } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'

const base = 'dataDir: /var/lib/bk\n'

describe('ledger settings from the collector YAML', () => {
  it('no ledger section: the ledger defaults', () => {
    assert.deepEqual(parseCollectorConfig(base, 'x.yaml').ledger, ledgerConfig())
  })

  it('each setting, and a tier policy field, overrides only itself', () => {
    const cfg = parseCollectorConfig(
      `${base}ledger:\n  defaultTier: critical\n  defaultPeriodS: 3600\n  defaultGraceS: 600\n  nodeTimeoutS: 120\n` +
        '  nodeDownAfterS: 900\n  catchUpGraceS: 7200\n' +
        '  notifyMinSeverity: critical\n  policies:\n    standard: {minOffsite: 0, rpoS: 7200}\n',
      'x.yaml',
    )
    assert.deepEqual(cfg.ledger, {
      defaultTier: 'critical',
      defaultPeriodS: 3600,
      defaultGraceS: 600,
      nodeTimeoutS: 120,
      nodeDownAfterS: 900,
      catchUpGraceS: 7200,
      notifyMinSeverity: 'critical',
      bareMetalImageRoles: ['hypervisor', 'server'],
      policies: tierPolicies({ standard: { minOffsite: 0, rpoS: 7200 } }),
    })
    assert.equal(
      cfg.ledger.policies.standard.minCopies,
      tierPolicies().standard.minCopies,
      'unset fields keep defaults',
    )
  })

  it('the catch-up grace follows the expectation grace unless set', () => {
    const cfg = parseCollectorConfig(`${base}ledger:\n  defaultGraceS: 900\n`, 'x.yaml')
    assert.equal(cfg.ledger.catchUpGraceS, 900)
    assert.equal(cfg.ledger.nodeDownAfterS, 600, 'node-down waits 10 min by default')
  })

  it('coverage: the roles that need a bare-metal image; [] needs none', () => {
    assert.deepEqual(parseCollectorConfig(base, 'x.yaml').ledger.bareMetalImageRoles, ['hypervisor', 'server'])
    const nas = parseCollectorConfig(`${base}coverage:\n  bareMetalImageRoles: [hypervisor, nas]\n`, 'x.yaml')
    assert.deepEqual(nas.ledger.bareMetalImageRoles, ['hypervisor', 'nas'])
    assert.deepEqual(
      parseCollectorConfig(`${base}coverage: { bareMetalImageRoles: [] }\n`, 'x.yaml').ledger.bareMetalImageRoles,
      [],
    )
    assert.throws(
      () => parseCollectorConfig(`${base}coverage:\n  bareMetalImageRoles: [Hyper Visor]\n`, 'x.yaml'),
      /x\.yaml:3:\d+: coverage\.bareMetalImageRoles/,
    )
  })

  it('a wrong value names file:line and the field', () => {
    const cases: [yaml: string, match: RegExp][] = [
      ['ledger:\n  defaultTier: gold\n', /x\.yaml:3:\d+: ledger\.defaultTier: /],
      ['ledger:\n  nodeTimeoutS: 5\n', /x\.yaml:3:\d+: ledger\.nodeTimeoutS: /],
      ['ledger:\n  nodeDownAfterS: -1\n', /x\.yaml:3:\d+: ledger\.nodeDownAfterS: /],
      [
        'ledger:\n  policies:\n    standard: {minCopeis: 2}\n',
        /x\.yaml:4:\d+: ledger\.policies\.standard: unknown field\(s\) "minCopeis"/,
      ],
    ]
    for (const [yaml, match] of cases) {
      assert.throws(() => parseCollectorConfig(base + yaml, 'x.yaml'), match, yaml)
    }
  })
})
