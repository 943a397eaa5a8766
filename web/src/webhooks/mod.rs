//! Webhook receivers (Stripe, Upstash QStash, Mercado Pago). Every delivery is verified over its
//! raw bytes before anything parses it (`signatures`).

pub mod signatures;
