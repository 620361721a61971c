// Import-cycle check for `npm run lint`: reads the static imports and `export … from` of every
// TypeScript file under the given folders (default src/ webview/ test/) with the TypeScript parser,
// finds the strongly connected components of the graph of relative imports (Tarjan) and prints
// one cycle per component. Type-only imports count too (they still tie the modules' designs
// together); `import()` and `require()` do not (they load lazily). Then the layers: ARCHITECTURE.md's
// ```layers block lists folders (and files) bottom first, and a file may not import one of a later
// layer, type-only imports excepted. Exit status 1 when a cycle or a layer violation exists.
//
//   node scripts/check-cycles.mjs [folder…]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folders = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'webview', 'test'];

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

function resolveImport(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The relative static imports of a file: target → whether every import of it is type-only. */
function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const edges = new Map();
  for (const st of source.statements) {
    let spec;
    let typeOnly = false;
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      const clause = st.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : undefined;
      typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!named && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      typeOnly = st.isTypeOnly;
    } else if (ts.isImportEqualsDeclaration(st) && ts.isExternalModuleReference(st.moduleReference) && ts.isStringLiteral(st.moduleReference.expression)) {
      spec = st.moduleReference.expression.text;
      typeOnly = st.isTypeOnly;
    }
    const target = spec === undefined ? undefined : resolveImport(file, spec);
    if (target) edges.set(target, (edges.get(target) ?? true) && typeOnly);
  }
  return edges;
}

const graph = new Map();
const queue = folders.flatMap((f) => [...tsFiles(join(root, f))]);
while (queue.length) {
  const file = queue.pop();
  if (graph.has(file)) continue;
  const edges = importsOf(file);
  graph.set(file, edges);
  for (const t of edges.keys()) if (!graph.has(t)) queue.push(t);
}

// Tarjan's strongly connected components (iterative: deep import chains do not overflow the stack).
const index = new Map();
const low = new Map();
const onStack = new Set();
const stack = [];
const components = [];
let counter = 0;
for (const start of graph.keys()) {
  if (index.has(start)) continue;
  const work = [[start, [...graph.get(start).keys()], 0]];
  index.set(start, counter);
  low.set(start, counter++);
  stack.push(start);
  onStack.add(start);
  while (work.length) {
    const frame = work[work.length - 1];
    const [v, next] = frame;
    if (frame[2] < next.length) {
      const w = next[frame[2]++];
      if (!index.has(w)) {
        index.set(w, counter);
        low.set(w, counter++);
        stack.push(w);
        onStack.add(w);
        work.push([w, [...graph.get(w).keys()], 0]);
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
      continue;
    }
    work.pop();
    if (work.length) {
      const parent = work[work.length - 1][0];
      low.set(parent, Math.min(low.get(parent), low.get(v)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component);
    }
  }
}

/** The shortest cycle through the component's first file (breadth-first inside the component). */
function shortestCycle(component) {
  const inside = new Set(component);
  const start = [...component].sort()[0];
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v).keys()) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (previous.get(path[0]) !== undefined) path.unshift(previous.get(path[0]));
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const rel = (f) => relative(root, f).replaceAll('\\', '/');
for (const component of components) {
  const cycle = shortestCycle(component);
  const steps = cycle.slice(1).map((f, i) => `${graph.get(cycle[i]).get(f) ? ' -(type)->' : ' ->'} ${rel(f)}`);
  const more = component.length > cycle.length - 1 ? ` (${component.length} files in this strongly connected component)` : '';
  console.error(`import cycle: ${rel(cycle[0])}${steps.join('')}${more}`);
}

/** The layers of ARCHITECTURE.md (bottom first), or none when it has no ```layers block. */
function readLayers() {
  const doc = join(root, 'ARCHITECTURE.md');
  if (!existsSync(doc)) return [];
  const block = /```layers\n([\s\S]*?)```/.exec(readFileSync(doc, 'utf8'));
  return block
    ? block[1]
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
}
const layers = readLayers();
const layerOf = (file) => {
  const r = rel(file);
  let best = -1;
  let length = -1;
  layers.forEach((l, i) => {
    if ((r === l || r.startsWith(`${l}/`)) && l.length > length) {
      best = i;
      length = l.length;
    }
  });
  return best;
};
const missing = layers.filter((l) => !existsSync(join(root, l)));
for (const l of missing) console.error(`ARCHITECTURE.md names ${l}, which does not exist`);
const violations = [];
for (const [file, edges] of graph) {
  const from = layerOf(file);
  if (from < 0) continue;
  for (const [target, typeOnly] of edges) {
    const to = layerOf(target);
    if (!typeOnly && to > from) violations.push(`${rel(file)} (${layers[from]}) imports ${rel(target)} (${layers[to]}), a later layer in ARCHITECTURE.md`);
  }
}
for (const v of violations) console.error(`layer: ${v}`);
if (components.length || violations.length || missing.length) {
  if (components.length) console.error(`${components.length} import cycle${components.length > 1 ? 's' : ''} in ${folders.join(', ')}`);
  if (violations.length) console.error(`${violations.length} import${violations.length > 1 ? 's' : ''} against the layers of ARCHITECTURE.md`);
  process.exit(1);
}
console.log(
  `no import cycles in ${folders.join(', ')} (${graph.size} files)${layers.length ? `; imports follow the ${layers.length} layers of ARCHITECTURE.md` : ''}`,
);
