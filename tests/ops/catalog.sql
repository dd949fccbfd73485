-- Everything fhir_access defines in this database, described by definition
-- and name (never by OID), one object per line and in a fixed order: two
-- databases print the same text exactly when the extension's catalog is the
-- same. tests/ops/extension_update.sh compares an updated database with a
-- fresh install.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid, extversion, extconfig, extcondition FROM pg_extension WHERE extname = 'fhir_access'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
    SELECT 'extension ' || extversion || ' config ' ||
           (SELECT string_agg(c::regclass::text || coalesce(' where ' || nullif(w, ''), ''), ', ' ORDER BY c::regclass::text)
            FROM unnest(extconfig, extcondition) AS u(c, w))
    FROM ext
    UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
           || ' owner ' || p.proowner::regrole || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), 'default') || E'\n'
           || pg_get_functiondef(p.oid)
    FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' owner ' || c.relowner::regrole
           || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), 'default') || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
           || ' options ' || coalesce(c.reloptions::text, '-')
           || coalesce(E'\n' || pg_get_viewdef(c.oid), '')
           || coalesce((SELECT string_agg(E'\n  column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                          || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                          || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), '' ORDER BY a.attnum)
                        FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
           || coalesce((SELECT string_agg(E'\n  constraint ' || conname || ' ' || pg_get_constraintdef(oid), '' ORDER BY conname)
                        FROM pg_constraint WHERE conrelid = c.oid), '')
           || coalesce((SELECT string_agg(E'\n  index ' || pg_get_indexdef(indexrelid), '' ORDER BY indexrelid::regclass::text)
                        FROM pg_index WHERE indrelid = c.oid), '')
           || coalesce((SELECT string_agg(E'\n  policy ' || policyname || ' ' || permissive || ' ' || cmd || ' ' || roles::text
                                          || ' using ' || coalesce(qual, '-') || ' check ' || coalesce(with_check, '-'), '' ORDER BY policyname)
                        FROM pg_policies WHERE schemaname = c.relnamespace::regnamespace::text AND tablename = c.relname), '')
           || coalesce((SELECT string_agg(E'\n  trigger ' || pg_get_triggerdef(t.oid), '' ORDER BY tgname)
                        FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
    FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
    UNION ALL
    SELECT 'event trigger ' || evtname || ' on ' || evtevent || ' enabled ' || evtenabled::text || ' tags ' || evttags::text
           || ' function ' || evtfoid::regprocedure
    FROM pg_event_trigger e JOIN members m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
    UNION ALL
    SELECT 'operator ' || o.oid::regoperator || ' function ' || o.oprcode::regprocedure || ' restrict ' || o.oprrest::regproc
           || ' join ' || o.oprjoin::regproc || ' commutator ' || o.oprcom::regoperator
    FROM pg_operator o JOIN members m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
    UNION ALL
    SELECT 'initial privileges of ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' '
           || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(i.initprivs) a)
    FROM pg_init_privs i JOIN members m ON m.classid = i.classoid AND m.objid = i.objoid
    UNION ALL
    SELECT 'schema ' || n.nspname || ' owner ' || n.nspowner::regrole || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), 'default')
    FROM pg_namespace n WHERE n.oid = (SELECT extnamespace FROM pg_extension WHERE extname = 'fhir_access')
    UNION ALL
    SELECT 'role ' || rolname || ' super ' || rolsuper || ' inherit ' || rolinherit || ' login ' || rolcanlogin
           || ' bypassrls ' || rolbypassrls || ' createrole ' || rolcreaterole || ' createdb ' || rolcreatedb
    FROM pg_roles WHERE rolname IN ('fhir_reader', 'fhir_writer')
) AS described(line)
ORDER BY line;
