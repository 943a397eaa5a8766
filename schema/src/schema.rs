// @generated automatically by Diesel CLI.

diesel::table! {
    account_balance_snapshots (account_id, as_of) {
        tenant_id -> Uuid,
        account_id -> Uuid,
        as_of -> Timestamptz,
        balance_minor -> Int8,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    accounts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        connection_id -> Uuid,
        external_id -> Text,
        kind -> Text,
        name -> Text,
        institution -> Text,
        #[max_length = 3]
        currency -> Bpchar,
        status -> Text,
        current_balance_minor -> Nullable<Int8>,
        available_balance_minor -> Nullable<Int8>,
        balance_as_of -> Nullable<Timestamptz>,
        credit_limit_minor -> Nullable<Int8>,
        statement_balance_minor -> Nullable<Int8>,
        statement_closing_date -> Nullable<Date>,
        statement_due_date -> Nullable<Date>,
        sync_cursor -> Nullable<Text>,
        synced_through -> Nullable<Date>,
        last_successful_sync_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        tenant_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        details -> Jsonb,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    budgets (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        category_id -> Uuid,
        period -> Text,
        period_start -> Date,
        amount_minor -> Int8,
        #[max_length = 3]
        currency -> Bpchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    categories (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        slug -> Text,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Uuid>,
        is_default -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    categorization_rules (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        category_id -> Uuid,
        priority -> Int4,
        match_field -> Text,
        match_kind -> Text,
        pattern -> Text,
        amount_min_minor -> Nullable<Int8>,
        amount_max_minor -> Nullable<Int8>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    change_sets (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        kind -> Text,
        summary -> Text,
        changes -> Jsonb,
        status -> Text,
        proposed_by -> Nullable<Uuid>,
        proposed_by_job -> Nullable<Uuid>,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        decision_note -> Nullable<Text>,
        apply_job_id -> Nullable<Uuid>,
        applied_at -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    console_login_failures (key) {
        key -> Text,
        failures -> Int4,
        last_failed_at -> Timestamptz,
    }
}

diesel::table! {
    console_operators (user_id) {
        user_id -> Uuid,
        granted_at -> Timestamptz,
        granted_by -> Text,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Uuid,
        csrf_token -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    cron_schedules (name) {
        name -> Text,
        paused -> Bool,
        paused_at -> Nullable<Timestamptz>,
        paused_by -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cron_ticks (id) {
        id -> Int8,
        schedule -> Text,
        fire_at -> Timestamptz,
        claimed_by -> Text,
        claimed_at -> Timestamptz,
        outcome -> Text,
        job_id -> Nullable<Uuid>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    currencies (code) {
        #[max_length = 3]
        code -> Bpchar,
        minor_units -> Int2,
        name -> Text,
    }
}

diesel::table! {
    dq_findings (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        check_name -> Text,
        severity -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        fingerprint -> Text,
        status -> Text,
        message -> Text,
        evidence -> Jsonb,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        user_id -> Nullable<Uuid>,
        kind -> Text,
        dedupe_key -> Text,
        to_address -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Nullable<Text>,
        status -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        message_id -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    forecast_flows (forecast_id, day, seq) {
        forecast_id -> Uuid,
        tenant_id -> Uuid,
        day -> Date,
        seq -> Int4,
        source -> Text,
        cadence -> Text,
        label -> Text,
        account_id -> Nullable<Uuid>,
        amount_minor -> Int8,
    }
}

diesel::table! {
    forecast_points (forecast_id, day) {
        forecast_id -> Uuid,
        tenant_id -> Uuid,
        day -> Date,
        p10_minor -> Int8,
        p50_minor -> Int8,
        p90_minor -> Int8,
    }
}

diesel::table! {
    forecasts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        account_id -> Nullable<Uuid>,
        #[max_length = 3]
        currency -> Bpchar,
        method_version -> Text,
        starts_on -> Date,
        horizon_days -> Int4,
        starting_balance_minor -> Int8,
        data_as_of -> Nullable<Timestamptz>,
        inputs -> Jsonb,
        job_id -> Nullable<Uuid>,
        generated_at -> Timestamptz,
    }
}

diesel::table! {
    fx_rates (source, base_currency, quote_currency, rate_date) {
        source -> Text,
        #[max_length = 3]
        base_currency -> Bpchar,
        #[max_length = 3]
        quote_currency -> Bpchar,
        rate_date -> Date,
        rate -> Numeric,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    job_attempts (id) {
        id -> Int8,
        job_id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        attempt -> Int4,
        worker -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        kind -> Text,
        queue -> Text,
        payload -> Jsonb,
        idempotency_key -> Nullable<Text>,
        state -> Text,
        priority -> Int2,
        attempts -> Int4,
        max_attempts -> Int4,
        lease_losses -> Int4,
        run_at -> Timestamptz,
        dispatched_at -> Nullable<Timestamptz>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        cancel_requested_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        result -> Nullable<Jsonb>,
        workflow_run_id -> Nullable<Uuid>,
        workflow_step -> Nullable<Text>,
        parent_job_id -> Nullable<Uuid>,
        trigger_kind -> Text,
        trigger_ref -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        runs -> Int4,
        deferrals -> Int4,
        dispatch_token -> Nullable<Text>,
    }
}

diesel::table! {
    notification_preferences (tenant_id, user_id) {
        tenant_id -> Uuid,
        user_id -> Uuid,
        daily_summary -> Bool,
        alerts -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    payment_accounts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        provider -> Text,
        account_ref -> Text,
        credentials -> Nullable<Bytea>,
        credentials_key_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    provider_connections (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        provider -> Text,
        external_id -> Text,
        display_name -> Text,
        status -> Text,
        credentials_ciphertext -> Nullable<Bytea>,
        credentials_key_id -> Nullable<Text>,
        settings -> Jsonb,
        last_sync_started_at -> Nullable<Timestamptz>,
        last_successful_sync_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamptz>,
        consecutive_failures -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    revenue_events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        source -> Text,
        kind -> Text,
        external_id -> Text,
        related_external_id -> Nullable<Text>,
        status -> Text,
        amount_minor -> Int8,
        fee_minor -> Int8,
        #[max_length = 3]
        currency -> Bpchar,
        occurred_at -> Timestamptz,
        customer_ref -> Nullable<Text>,
        description -> Nullable<Text>,
        source_event_id -> Nullable<Text>,
        raw -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        state_at -> Nullable<Timestamptz>,
        state_rank -> Int2,
    }
}

diesel::table! {
    sync_rejections (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        account_id -> Uuid,
        external_id -> Text,
        reason -> Text,
        detail -> Text,
        raw -> Jsonb,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        #[max_length = 3]
        base_currency -> Bpchar,
        time_zone -> Text,
        locale -> Text,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    transaction_day_totals (id) {
        id -> Int8,
        tenant_id -> Uuid,
        day -> Date,
        category_id -> Nullable<Uuid>,
        #[max_length = 3]
        currency -> Bpchar,
        inflow_minor -> Int8,
        outflow_minor -> Int8,
        transactions -> Int4,
    }
}

diesel::table! {
    transactions (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        account_id -> Uuid,
        external_id -> Text,
        booked_date -> Date,
        value_date -> Nullable<Date>,
        amount_minor -> Int8,
        #[max_length = 3]
        currency -> Bpchar,
        original_amount_minor -> Nullable<Int8>,
        #[max_length = 3]
        original_currency -> Nullable<Bpchar>,
        description -> Text,
        counterparty -> Nullable<Text>,
        category_id -> Nullable<Uuid>,
        category_manual -> Bool,
        provider_category -> Nullable<Text>,
        status -> Text,
        raw -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        role -> Text,
        disabled_at -> Nullable<Timestamptz>,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_inbox (id) {
        id -> Uuid,
        provider -> Text,
        event_id -> Text,
        event_type -> Nullable<Text>,
        tenant_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
        raw_body -> Bytea,
        headers -> Jsonb,
        status -> Text,
        processed_at -> Nullable<Timestamptz>,
        processing_error -> Nullable<Text>,
        job_id -> Nullable<Uuid>,
        replay_count -> Int4,
        last_replayed_at -> Nullable<Timestamptz>,
        account_ref -> Nullable<Text>,
    }
}

diesel::table! {
    workflow_runs (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        workflow -> Text,
        run_key -> Text,
        state -> Text,
        trigger_kind -> Text,
        trigger_ref -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    workflow_step_dependencies (run_id, step, depends_on) {
        run_id -> Uuid,
        step -> Text,
        depends_on -> Text,
        tenant_id -> Uuid,
        requires -> Text,
    }
}

diesel::table! {
    workflow_steps (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        run_id -> Uuid,
        step -> Text,
        job_kind -> Text,
        payload -> Jsonb,
        state -> Text,
        job_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(accounts -> currencies (currency));
diesel::joinable!(accounts -> tenants (tenant_id));
diesel::joinable!(audit_log -> tenants (tenant_id));
diesel::joinable!(budgets -> currencies (currency));
diesel::joinable!(budgets -> tenants (tenant_id));
diesel::joinable!(categories -> tenants (tenant_id));
diesel::joinable!(categorization_rules -> tenants (tenant_id));
diesel::joinable!(change_sets -> tenants (tenant_id));
diesel::joinable!(console_operators -> users (user_id));
diesel::joinable!(console_sessions -> users (user_id));
diesel::joinable!(cron_ticks -> jobs (job_id));
diesel::joinable!(dq_findings -> tenants (tenant_id));
diesel::joinable!(email_outbox -> tenants (tenant_id));
diesel::joinable!(forecasts -> currencies (currency));
diesel::joinable!(forecasts -> tenants (tenant_id));
diesel::joinable!(job_attempts -> tenants (tenant_id));
diesel::joinable!(jobs -> tenants (tenant_id));
diesel::joinable!(payment_accounts -> tenants (tenant_id));
diesel::joinable!(provider_connections -> tenants (tenant_id));
diesel::joinable!(revenue_events -> currencies (currency));
diesel::joinable!(revenue_events -> tenants (tenant_id));
diesel::joinable!(sync_rejections -> tenants (tenant_id));
diesel::joinable!(tenants -> currencies (base_currency));
diesel::joinable!(transaction_day_totals -> currencies (currency));
diesel::joinable!(transaction_day_totals -> tenants (tenant_id));
diesel::joinable!(transactions -> currencies (original_currency));
diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(webhook_inbox -> tenants (tenant_id));
diesel::joinable!(workflow_runs -> tenants (tenant_id));
diesel::joinable!(workflow_step_dependencies -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_balance_snapshots,
    accounts,
    audit_log,
    budgets,
    categories,
    categorization_rules,
    change_sets,
    console_login_failures,
    console_operators,
    console_sessions,
    cron_schedules,
    cron_ticks,
    currencies,
    dq_findings,
    email_outbox,
    forecast_flows,
    forecast_points,
    forecasts,
    fx_rates,
    job_attempts,
    jobs,
    notification_preferences,
    payment_accounts,
    provider_connections,
    revenue_events,
    sync_rejections,
    tenants,
    transaction_day_totals,
    transactions,
    users,
    webhook_inbox,
    workflow_runs,
    workflow_step_dependencies,
    workflow_steps,
);
