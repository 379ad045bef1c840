// Checks schema/desired.schema.json against the repository's YAML files:
//   (a) every *.yaml / *.yml under REPO_ROOT/examples/ (recursively) must be valid, and every
//       tests/fixtures/live/*/*/import.yaml (golden outputs of `mailrecon import`) but those
//       of trees whose live state breaks a rule (they have an import.err);
//   (b) every file listed in REPO_ROOT/tests/fixtures/invalid/schema-rejects.txt must be rejected;
//   (c) every tests/fixtures/plan/*/plan.json (golden outputs of `mailrecon plan --json`, which
//       the unit tests compare byte for byte with the program's) must be valid against
//       schema/plan.schema.json;
//   (d) every other schema of schema/ compiles (ajv strict) with its $refs resolved.
// Usage: node tests/schema/check.mjs REPO_ROOT   (after: npm ci --prefix tests/schema)
// The YAML is read as YAML 1.1, like the C loader, so yes/no/on/off are booleans.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
if (!root || process.argv.length > 3) {
  console.error('usage: node check.mjs REPO_ROOT');
  process.exit(2);
}

let Ajv2020, parseDocument;
try {
  Ajv2020 = (await import('ajv/dist/2020.js')).default;
  ({ parseDocument } = await import('yaml'));
} catch (e) {
  console.error(`FAIL cannot load ajv and yaml (${e.message}); run: npm ci --prefix tests/schema`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const schemaPath = path.join(root, 'schema', 'desired.schema.json');
let validate;
try {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  validate = ajv.compile(schema);
} catch (e) {
  console.error(`FAIL cannot load ${schemaPath}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// Returns { data } or { error } (a YAML syntax error, or more than one document).
function loadYaml(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { error: `cannot read: ${e.message}` };
  }
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return { error: doc.errors.map((e) => e.message).join('\n') };
  }
  return { data: doc.toJS({ maxAliasCount: 100000 }) };
}

function formatErrors(errors) {
  return (errors || [])
    .map((e) => `    ${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
    .join('\n');
}

// Every *.yaml / *.yml below dir, recursively, in sorted order (hidden entries skipped,
// like the C loader).
function findYaml(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const ent of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (ent.name.startsWith('.')) continue;
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...findYaml(p));
    else if (ent.isFile() && /\.ya?ml$/.test(ent.name)) out.push(p);
  }
  return out;
}

let passed = 0;
let failed = 0;
const ok = (msg) => { passed++; console.log(`ok ${msg}`); };
const fail = (msg, detail) => { failed++; console.log(`FAIL ${msg}`); if (detail) console.log(detail); };

// (a) examples must be valid, and so must every golden `mailrecon import` output (the unit
// tests check that the program prints exactly these files)
const examples = findYaml(path.join(root, 'examples'))
  .concat(findYaml(path.join(root, 'tests', 'fixtures', 'live')).filter((f) => path.basename(f) === 'import.yaml' && !existsSync(path.join(path.dirname(f), 'import.err'))));
if (examples.length === 0) fail('valid: no *.yaml or *.yml file under examples/');
for (const file of examples) {
  const rel = path.relative(root, file).split(path.sep).join('/');
  const { data, error } = loadYaml(file);
  if (error) fail(`valid ${rel}: YAML error`, `    ${error.replace(/\n/g, '\n    ')}`);
  else if (validate(data)) ok(`valid ${rel}`);
  else fail(`valid ${rel}: rejected by the schema`, formatErrors(validate.errors));
}

// (b) listed fixtures must be rejected
const invalidDir = path.join(root, 'tests', 'fixtures', 'invalid');
const listFile = path.join(invalidDir, 'schema-rejects.txt');
let names = [];
try {
  names = readFileSync(listFile, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
} catch (e) {
  fail(`rejected: cannot read tests/fixtures/invalid/schema-rejects.txt: ${e.message}`);
}
if (names.length === 0) fail('rejected: no fixture listed in tests/fixtures/invalid/schema-rejects.txt');
for (const name of names) {
  const { data, error } = loadYaml(path.join(invalidDir, name));
  if (error) fail(`rejected ${name}: not loadable YAML, so it tests nothing in the schema`, `    ${error.replace(/\n/g, '\n    ')}`);
  else if (!validate(data)) ok(`rejected ${name}`);
  else fail(`rejected ${name}: accepted by the schema`);
}

// (c) golden plan outputs must match the plan schema
let validatePlan;
try {
  const ajvp = new Ajv2020({ strict: true, allErrors: true });
  ajvp.addSchema(JSON.parse(readFileSync(path.join(root, 'schema', 'route.schema.json'), 'utf8')));
  validatePlan = ajvp.compile(JSON.parse(readFileSync(path.join(root, 'schema', 'plan.schema.json'), 'utf8')));
} catch (e) {
  fail(`cannot load schema/plan.schema.json: ${e.message}`);
}
const planDir = path.join(root, 'tests', 'fixtures', 'plan');
let planFiles = [];
try {
  planFiles = readdirSync(planDir)
    .sort()
    .map((d) => path.join(planDir, d, 'plan.json'))
    .filter((f) => existsSync(f));
} catch (e) {
  fail(`cannot read tests/fixtures/plan: ${e.message}`);
}
if (planFiles.length === 0) fail('plan: no tests/fixtures/plan/*/plan.json');
for (const file of planFiles) {
  const rel = path.relative(root, file).split(path.sep).join('/');
  let data;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`plan ${rel}: not JSON: ${e.message}`);
    continue;
  }
  if (validatePlan && validatePlan(data)) ok(`plan ${rel}`);
  else fail(`plan ${rel}: rejected by schema/plan.schema.json`, validatePlan ? formatErrors(validatePlan.errors) : '');
}

// (d) every schema of schema/ compiles in strict mode with the others (their $refs resolve):
// the ones the CLI tests use on real output (validate, drift, log, dns, route) included
{
  const dir = path.join(root, 'schema');
  const names = readdirSync(dir).filter((n) => n.endsWith('.schema.json')).sort();
  const ajvAll = new Ajv2020({ strict: true, allErrors: true });
  try {
    for (const n of names) if (n !== 'desired.schema.json') ajvAll.addSchema(JSON.parse(readFileSync(path.join(dir, n), 'utf8')), n);
  } catch (e) {
    fail(`schema: cannot load the schemas of schema/: ${e.message}`);
  }
  for (const n of names.filter((x) => x !== 'desired.schema.json')) {
    try {
      if (ajvAll.getSchema(n)) ok(`schema ${n} compiles`);
      else fail(`schema ${n}: not found`);
    } catch (e) {
      fail(`schema ${n}: does not compile: ${e.message}`);
    }
  }
  for (const n of ['validate.schema.json', 'drift.schema.json', 'log.schema.json', 'dns.schema.json', 'route.schema.json'])
    if (!names.includes(n)) fail(`schema ${n}: missing`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
