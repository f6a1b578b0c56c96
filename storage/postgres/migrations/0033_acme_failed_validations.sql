-- 0033: an account's authorizations by identifier, for the limit on
-- failed validations (storage.ACMEStore.CountFailedACMEValidations).
--
-- Forward-only and additive.
CREATE INDEX acme_authzs_account_identifier_idx ON acme_authzs (account_id, id_type, id_value);
