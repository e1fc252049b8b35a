import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, it } from 'node:test'
import ts from 'typescript'

/**
 * Nothing in the repository may run a shell string: no `shell: true` (or any non-`false` value), no
 * child_process `exec`/`execSync`, no `exec(…)` with an interpolated or concatenated command, and no
 * `sh -c <non-literal script>` smuggled through an argv array. ESLint has a rule for the first two; this test
 * covers every file type (also .mjs scripts ESLint may skip) and the argv smuggling the rule cannot see.
 */
const root = new URL('../../', import.meta.url).pathname
const SKIP = new Set(['node_modules', 'dist', '.git', 'fixtures', '.pnpm-store'])
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', '/bin/sh', '/bin/bash', '/usr/bin/sh', '/usr/bin/bash'])

export interface Finding {
  readonly file: string
  readonly line: number
  readonly what: string
}

function isDynamic(n: ts.Expression): boolean {
  if (ts.isTemplateExpression(n)) {
    return true
  }
  if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    return true
  }
  return !(ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n))
}

export function scanSource(file: string, text: string): Finding[] {
  const sf = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith('x') ? ts.ScriptKind.TSX : undefined,
  )
  const out: Finding[] = []
  const at = (n: ts.Node, what: string): void => {
    out.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, what })
  }
  const visit = (n: ts.Node): void => {
    if (
      ts.isPropertyAssignment(n) &&
      (ts.isIdentifier(n.name) || ts.isStringLiteral(n.name)) &&
      n.name.text === 'shell' &&
      n.initializer.kind !== ts.SyntaxKind.FalseKeyword
    ) {
      at(n, `shell: ${n.initializer.getText(sf)}`)
    }
    if (ts.isShorthandPropertyAssignment(n) && n.name.text === 'shell') {
      at(n, 'shell (shorthand)')
    }
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier) &&
      /^(node:)?child_process$/.test(n.moduleSpecifier.text)
    ) {
      const names = n.getText(sf).match(/\b(exec|execSync)\b/g)
      if (names) {
        at(n, `imports ${names.join(', ')} from child_process`)
      }
    }
    if (ts.isCallExpression(n)) {
      const callee = n.expression
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : ''
      const first = n.arguments[0]
      const onRegex = ts.isPropertyAccessExpression(callee) && ts.isRegularExpressionLiteral(callee.expression)
      if (
        (name === 'exec' || name === 'execSync') &&
        first &&
        !onRegex &&
        (ts.isTemplateExpression(first) ||
          (ts.isBinaryExpression(first) && first.operatorToken.kind === ts.SyntaxKind.PlusToken))
      ) {
        at(n, `${name}() with an interpolated command`)
      }
    }
    if (ts.isArrayLiteralExpression(n)) {
      const els = n.elements
      for (let i = 0; i + 2 < els.length + 1; i++) {
        const e = els[i]
        const flag = els[i + 1]
        const script = els[i + 2]
        if (
          e &&
          flag &&
          script &&
          ts.isStringLiteral(e) &&
          SHELLS.has(e.text) &&
          ts.isStringLiteral(flag) &&
          /^-[a-z]*c$/.test(flag.text) &&
          isDynamic(script as ts.Expression)
        ) {
          at(n, `${e.text} ${flag.text} with a non-literal script`)
        }
      }
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return out
}

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) {
      continue
    }
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) {
      out.push(...files(p))
    } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(name) && st.size < 2_000_000) {
      out.push(p)
    }
  }
  return out
}

describe('no shell strings anywhere', () => {
  const bad: Array<[string, string]> = [
    ['shell: true', "spawn('tar', ['-c', dir], { shell: true })"],
    ['shell: variable', 'spawn(cmd, [], { shell: useShell })'],
    ['shorthand shell', 'const shell = true; spawn(cmd, [], { shell })'],
    ['exec with template', 'child.exec(`zfs destroy ${name}`)'],
    ['exec with concat', "exec('zfs destroy ' + name)"],
    ['import exec', "import { exec } from 'node:child_process'"],
    ['import execSync', "import { spawn, execSync } from 'child_process'"],
    ['sh -c template', "run(['sh', '-c', `zfs list ${pool}`])"],
    ['bash -lc variable', "run(['/bin/bash', '-lc', script])"],
  ]
  for (const [name, code] of bad) {
    it(`detects ${name}`, () => assert.equal(scanSource('x.ts', code).length, 1, code))
  }
  const fine: Array<[string, string]> = [
    ['argv array', "exec.run(['zfs', 'destroy', name])"],
    ['shell: false', 'spawn(cmd, args, { shell: false })'],
    ['regex exec with template', 'const m = /x/.exec(`a${b}`)'],
    ['sh -c with a literal script and positional args', "spawnSync('sh', ['-c', 'command -v \"$1\"', 'sh', name])"],
  ]
  for (const [name, code] of fine) {
    it(`allows ${name}`, () => assert.deepEqual(scanSource('x.ts', code), []))
  }

  it('the repository has no findings', () => {
    const all = files(root)
    assert.ok(all.length > 50, `scanned ${all.length} files`)
    const findings = all.flatMap((f) => scanSource(relative(root, f), readFileSync(f, 'utf8')))
    assert.deepEqual(findings, [], findings.map((f) => `${f.file}:${f.line} ${f.what}`).join('\n'))
  })
})
