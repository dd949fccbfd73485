SELECT EXISTS (SELECT 1 FROM fhir.role_binding WHERE role = $1::regrole AND membership = $2)
