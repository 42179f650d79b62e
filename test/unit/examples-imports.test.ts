/**
 * examples/ is code written as a user of the package would write it: it reaches the runtime only through
 * the package's entry points (`agent-runtime`, `agent-runtime/worker`, ... as listed in package.json's
 * `exports`), never by a relative path into the runtime's source. tsconfig.json's `paths` and jest's
 * `moduleNameMapper` resolve those entry points to source; both must list exactly the exported ones.
 *
 * One exception, by name: the bench drives the repository's test harness (test/support: dev server, worker
 * child processes, test agents, PostgreSQL), which is test tooling, not the runtime and not in the package.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const PACKAGE = 'agent-runtime';
/** Relative imports that may leave examples/: from the bench into the repository's test harness only. */
const HARNESS_ALLOWED = { from: path.join(EXAMPLES, 'bench') + path.sep, to: path.join(ROOT, 'test', 'support') + path.sep };

interface PackageJson {
  exports: Record<string, string | { default: string }>;
}
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** Entry point specifier -> the source file it is built from ('./dist/workers/index.js' -> 'workers/index.ts'). */
const entryPoints = new Map(
  Object.entries(pkg.exports)
    .filter(([key]) => key !== './package.json')
    .map(([key, target]) => {
      const built = typeof target === 'string' ? target : target.default;
      return [key === '.' ? PACKAGE : `${PACKAGE}/${key.slice(2)}`, built.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')] as const;
    }),
);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(full);
    return /\.(ts|mts|cts|tsx)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every way the file names another module: import/export from, import(), require(), import x = require(). */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** What is wrong with one import in an examples/ file, or null when it keeps the rule. */
function violation(file: string, spec: string): string | null {
  if (spec.startsWith('.')) {
    const target = path.resolve(path.dirname(file), spec);
    if (target === EXAMPLES || target.startsWith(EXAMPLES + path.sep)) return null;
    if (file.startsWith(HARNESS_ALLOWED.from) && target.startsWith(HARNESS_ALLOWED.to)) return null;
    return `'${spec}' leaves examples/ (into ${path.relative(ROOT, target)}): import the runtime through a public entry point (${[...entryPoints.keys()].join(', ')})`;
  }
  if (spec === PACKAGE || spec.startsWith(`${PACKAGE}/`)) {
    return entryPoints.has(spec) ? null : `'${spec}' is not an entry point of the package: use one of ${[...entryPoints.keys()].join(', ')} (or export what you need from one)`;
  }
  return null;
}

describe('examples/ import the runtime only through its public entry points', () => {
  const files = sourceFiles(EXAMPLES);

  test('the scan sees the demos and the bench', () => {
    const rel = files.map((f) => path.relative(ROOT, f));
    expect(rel).toEqual(expect.arrayContaining(['examples/agents/index.ts', 'examples/agents/research/script.ts', 'examples/bench/run.ts', 'examples/quickstart/worker.ts']));
  });

  test('no relative import leaves examples/ and every agent-runtime import is an exported entry point', () => {
    const problems = files.flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .map((spec) => violation(file, spec))
        .filter((v): v is string => v !== null)
        .map((v) => `${path.relative(ROOT, file)}: ${v}`),
    );
    expect(problems).toEqual([]);
  });

  test('the rule catches what it is for', () => {
    const demo = path.join(EXAMPLES, 'agents', 'application', 'agent.ts');
    const bench = path.join(EXAMPLES, 'bench', 'run.ts');
    const seen = specifiers(
      "import { defineAgent } from '../../../runtime/agent';\nexport * from '../../../memory';\nconst s = require('../../../sandbox/sandbox');\nvoid import('agent-runtime/runtime/agent');",
    );
    expect(seen).toEqual(['../../../runtime/agent', '../../../memory', '../../../sandbox/sandbox', 'agent-runtime/runtime/agent']);
    expect(seen.map((s) => violation(demo, s)).every((v) => v !== null)).toBe(true);
    expect(violation(demo, '../../../test/support/harness')).not.toBeNull(); // the harness exception is the bench's alone
    expect(violation(bench, '../../workers/worker')).not.toBeNull();
    expect(violation(bench, '../../test/support/harness')).toBeNull();
    expect(violation(demo, './outbox')).toBeNull();
    expect(violation(demo, 'agent-runtime/sandbox')).toBeNull();
  });

  test("tsconfig.json's paths and jest's moduleNameMapper map exactly the exported entry points to their source", () => {
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };
    const paths = Object.fromEntries(Object.entries(tsconfig.compilerOptions.paths).map(([k, [v]]) => [k, path.normalize(v)]));
    expect(paths).toEqual(Object.fromEntries(entryPoints));

    const jestConfig = require(path.join(ROOT, 'jest.config.js')) as { moduleNameMapper: Record<string, string> };
    const mapped = Object.fromEntries(
      Object.entries(jestConfig.moduleNameMapper).map(([re, target]) => [re.replace(/^\^/, '').replace(/\$$/, ''), target.replace('<rootDir>/', '')]),
    );
    expect(mapped).toEqual(Object.fromEntries(entryPoints));
  });
});
