-- 0008: each edge node's encryption key. Supplier credentials travel to a node only as JWEs
-- sealed to this X25519 public key (ECDH-ES), so a node's answers are useless to any other node
-- and the secret exists in clear only in that node's memory. NULL: the node gets no credentials
-- (it was registered before this existed, or runs on configured SUPPLIER_KEYS only).
ALTER TABLE edge_nodes ADD COLUMN encryption_jwk jsonb
  CHECK (encryption_jwk IS NULL OR (encryption_jwk ->> 'crv' = 'X25519' AND NOT encryption_jwk ? 'd'));
