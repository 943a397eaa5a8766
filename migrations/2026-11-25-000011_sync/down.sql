ALTER TABLE transactions
    ADD CONSTRAINT transactions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    ADD CONSTRAINT transactions_currency_fkey FOREIGN KEY (currency) REFERENCES currencies (code);
DROP TABLE sync_rejections;
