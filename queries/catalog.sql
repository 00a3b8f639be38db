-- Catalog of (domain, action) pairs and of tenants. Both are tiny, read
-- once per process and cached by the ledger package.

-- name: ContractActionsList :many
SELECT id, domain, action, description
FROM rac.contract_actions
ORDER BY id;

-- name: ContractActionInsert :exec
-- A pair that is already registered is left as it is.
INSERT INTO rac.contract_actions (domain, action, description)
VALUES (@domain, @action, @description)
ON CONFLICT (domain, action) DO NOTHING;

-- name: TenantsList :many
SELECT id, name
FROM rac.tenants
ORDER BY id;

-- name: TenantInsert :exec
-- A tenant that already exists is left as it is.
INSERT INTO rac.tenants (name)
VALUES (@name)
ON CONFLICT (name) DO NOTHING;
