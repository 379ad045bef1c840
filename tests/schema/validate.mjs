// Validates JSON files produced by the real binary against one of the repository's schemas.
// Usage: node tests/schema/validate.mjs REPO_ROOT SCHEMA_FILE_NAME FILE...
//   e.g. node tests/schema/validate.mjs . planfile.schema.json /tmp/x.plan
// Every schema/*.schema.json is loaded, so $refs between them resolve. Exit 0 when every
// FILE is valid, 1 otherwise (with the errors), 2 on a usage error.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const [root, schemaName, ...files] = process.argv.slice(2);
if (!root || !schemaName || files.length === 0) {
  console.error('usage: node validate.mjs REPO_ROOT SCHEMA_FILE_NAME FILE...');
  process.exit(2);
}
const Ajv2020 = (await import('ajv/dist/2020.js')).default;
const ajv = new Ajv2020({ strict: true, allErrors: true });
const dir = path.join(root, 'schema');
for (const name of readdirSync(dir).filter((n) => n.endsWith('.schema.json')).sort())
  if (name !== 'desired.schema.json') ajv.addSchema(JSON.parse(readFileSync(path.join(dir, name), 'utf8')), name);
const validate = ajv.getSchema(schemaName);
if (!validate) {
  console.error(`no schema ${schemaName} in ${dir}`);
  process.exit(2);
}
let bad = 0;
for (const f of files) {
  let data;
  try {
    data = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    console.log(`FAIL ${f}: not JSON: ${e.message}`);
    bad++;
    continue;
  }
  if (validate(data)) console.log(`ok ${f}`);
  else {
    console.log(`FAIL ${f}: ${JSON.stringify(validate.errors, null, 1)}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
