#!/usr/bin/env python3
"""Derive crates/fhirpath/data/r4-model.txt from fhirpath.js's R4 model tables.

Usage:
    npm pack fhirpath@5.2.2 && tar xzf fhirpath-5.2.2.tgz
    python3 crates/fhirpath/scripts/derive_model.py package/fhir-context/r4 > crates/fhirpath/data/r4-model.txt

Input files (fhirpath.js 5.2.2, BSD-style licence, see data/LICENSE-fhirpath.js.txt):
path2Type.json, choiceTypePaths.json, type2Parent.json, pathsDefinedElsewhere.json.

Output: one line per type, `Name Parent field:Type field:Type ...`.
Backbone elements become pseudo-types named by their path (e.g. `Patient.contact`),
choice elements are written once as `value:[x]` (the concrete `valueQuantity:Quantity`
entries stay, so a found key has a type), and fields a parent already declares
with the same type are left out (the evaluator walks up the parent chain).
"""
import json
import os
import sys

src = sys.argv[1]
load = lambda name: json.load(open(os.path.join(src, name)))
path2type = load("path2Type.json")
choices = load("choiceTypePaths.json")
parents = load("type2Parent.json")
elsewhere = load("pathsDefinedElsewhere.json")

types = {}  # name -> (parent, {field: type})


def ensure(name, parent):
    if name not in types:
        types[name] = (parent, {})
    return types[name][1]


for name, parent in parents.items():
    ensure(name, parent)
for base in ("Element", "Resource"):
    ensure(base, "")

def is_resource(name):
    while name:
        if name == "Resource":
            return True
        name = parents.get(name)
    return False


for path, t in sorted(path2type.items()):
    if isinstance(t, dict):
        t = t["code"]
    owner, _, field = path.rpartition(".")
    # fhirpath.js types every `id` as System.String; in FHIR a resource id is an `id`.
    if field == "id" and is_resource(owner):
        t = "id"
    if t in ("BackboneElement", "Element") and path not in parents:
        ensure(path, t)
        t = path
    ensure(owner, "BackboneElement")[field] = t

for path, target in elsewhere.items():
    owner, _, field = path.rpartition(".")
    ensure(owner, "BackboneElement")[field] = target
    ensure(target, "BackboneElement")

for path in choices:
    owner, _, field = path.rpartition(".")
    ensure(owner, "BackboneElement")[field] = "[x]"


def inherited(name, field):
    parent = types[name][0]
    while parent:
        p, fields = types.get(parent, ("", {}))
        if field in fields:
            return fields[field]
        parent = p
    return None


print("# FHIR R4 element types, derived by scripts/derive_model.py from fhirpath.js 5.2.2 (fhir-context/r4)")
for name in sorted(types):
    parent, fields = types[name]
    kept = [f"{f}:{t}" for f, t in sorted(fields.items()) if inherited(name, f) != t]
    print(" ".join([name, parent or "-"] + kept))
