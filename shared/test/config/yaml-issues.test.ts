import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LineCounter, parseDocument } from 'yaml'
import { ConfigError, fieldName, formatIssue, isBackstopError, pointerToPath, yamlPosition } from '@backstop/shared'

// The one config-issue grammar of the agent's and the collector's loaders.
describe('config issues', () => {
  it('formats file:line:column: field: message, (root) when there is no field', () => {
    const issue = { file: '/etc/backstop/agent.yaml', line: 7, column: 5, field: 'jobs[0].retention', message: 'x' }
    assert.equal(formatIssue(issue), '/etc/backstop/agent.yaml:7:5: jobs[0].retention: x')
    assert.equal(formatIssue({ ...issue, field: '' }), '/etc/backstop/agent.yaml:7:5: (root): x')
  })

  it('ConfigError is BK_ERR_CONFIG_INVALID carrying every issue, one line each', () => {
    const issues = [
      { file: 'a.yaml', line: 1, column: 1, field: 'node', message: 'bad' },
      { file: 'a.yaml', line: 3, column: 2, field: 'jobs[1]', message: 'worse' },
    ]
    const e = new ConfigError(issues)
    assert.ok(isBackstopError(e, 'BK_ERR_CONFIG_INVALID'))
    assert.deepEqual(e.issues, issues)
    assert.ok(e.message.includes('\na.yaml:1:1: node: bad\na.yaml:3:2: jobs[1]: worse'), e.message)
  })

  it('points a schema error at the YAML line of its field (its parent when the field is missing)', () => {
    const text = 'node: n1\njobs:\n  - name: etc\n    kind: archive\n'
    const lines = new LineCounter()
    const doc = parseDocument(text, { lineCounter: lines })
    const path = pointerToPath('/jobs/0/kind')
    assert.equal(fieldName(path), 'jobs[0].kind')
    assert.deepEqual(yamlPosition(doc, lines, path), { line: 4, column: 11 })
    assert.deepEqual(yamlPosition(doc, lines, pointerToPath('/jobs/0/paths')), { line: 3, column: 5 })
  })
})
