-- order-svc: the order's trace. The W3C `traceparent` of the request that created the
-- pre-order, written with it, so that the order's later steps (its payment, the payment
-- platform's callback, an abandoned order's cancel) continue the order's trace even when
-- their requests carry none. Null for orders created before, or without an exporter.
alter table trade_order
    add column trace_context varchar(64) null comment 'W3C traceparent of the order''s trace'
        after request_id;
