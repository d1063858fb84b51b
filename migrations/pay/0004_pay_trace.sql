-- pay-svc: the trace of the payment's order (its W3C `traceparent`, as order-svc told it
-- when the payment was created), so that the payment platform's callback continues the
-- order's trace. Null for payments created before, or without an exporter.
alter table trade_pay
    add column trace_context varchar(64) null comment 'W3C traceparent of the order''s trace'
        after user_id;
