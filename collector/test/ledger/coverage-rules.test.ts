import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { judgeCoverage, type CoverageInput, type CoverageStatus } from '../../src/ledger/coverage-rules.ts'

const base: CoverageInput = {
  node: 'pve1',
  kind: 'zfs-dataset',
  id: 'tank/data',
  present: true,
  coveredBy: [],
  role: null,
  exemptReason: null,
  bareMetalImageRoles: ['hypervisor', 'server'],
}
const image = { kind: 'host-image', id: 'host/pve1' }

describe('coverage rules', () => {
  const cases: [string, Partial<CoverageInput>, CoverageStatus, RegExp][] = [
    ['an asset no job covers is a gap', {}, 'gap', /^zfs-dataset tank\/data on pve1 is not covered by any backup job$/],
    ['a covered asset is covered', { coveredBy: ['snap', 'repl'] }, 'covered', /covered by snap, repl$/],
    ['an asset the inventory stopped listing is gone', { present: false }, 'gone', /no longer in the node/],
    ['an exempt uncovered asset is not a gap', { exemptReason: 'scratch space' }, 'exempt', /: scratch space$/],
    ['coverage wins over an exemption', { coveredBy: ['snap'], exemptReason: 'x' }, 'covered', /covered by snap/],
    [
      'a hypervisor without a rear image is a gap',
      { ...image, role: 'hypervisor' },
      'gap',
      /role hypervisor\) has no bare-metal image/,
    ],
    ['a node without a role counts as a server', { ...image }, 'gap', /role server\) has no bare-metal image/],
    ['a workstation needs no image', { ...image, role: 'workstation' }, 'not-required', /needs no bare-metal/],
    [
      'no role needs one when the list is empty',
      { ...image, role: 'server', bareMetalImageRoles: [] },
      'not-required',
      /needs no/,
    ],
    [
      'a rear job covers the image',
      { ...image, role: 'hypervisor', coveredBy: ['rescue-usb'] },
      'covered',
      /rescue-usb/,
    ],
    ['an image can be marked unprotected', { ...image, exemptReason: 'rebuilt by ansible' }, 'exempt', /ansible/],
  ]
  for (const [what, over, status, summary] of cases) {
    it(what, () => {
      const f = judgeCoverage({ ...base, ...over })
      assert.equal(f.status, status)
      assert.equal(f.firing, status === 'gap')
      assert.match(f.summary, summary)
    })
  }
})
