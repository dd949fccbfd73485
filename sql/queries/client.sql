-- Whether a role is a client, and whether it is a gateway.
SELECT gateway FROM fhir.client WHERE role = $1
