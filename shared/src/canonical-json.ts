/**
 * Canonical JSON: the exact bytes that get signed. Object keys sorted by code unit, no whitespace,
 * `undefined` members dropped (as JSON.stringify does), non-finite numbers refused because they have no JSON
 * form and would make signer and verifier disagree.
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0)
}

const MAX_DEPTH = 64

function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) {
    throw new TypeError(`canonicalJson: nesting deeper than ${MAX_DEPTH}`)
  }
  if (value === null) {
    return 'null'
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError('canonicalJson: non-finite number')
      }
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v) => (v === undefined ? 'null' : write(v, depth + 1))).join(',')}]`
      }
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort()
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], depth + 1)}`).join(',')}}`
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`)
  }
}

/**
 * Linear pre-scan before JSON.parse: V8 needs ~0.75 µs per nesting level, so 1 MiB of `[` costs ~400 ms of CPU
 * per message — a cheap denial of service from any client that may publish (found by test/fuzz). Brackets inside
 * strings do not count. Throws a SyntaxError (reported as BK_ERR_WIRE_JSON: not attributable, dropped).
 */
export function assertJsonDepth(text: string, max: number): void {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) {
        i++
      } else if (c === 0x22) {
        inString = false
      }
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        throw new SyntaxError(`JSON nesting deeper than ${max} levels at offset ${i}`)
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
}
