-- goods-svc: a cancel records the Redis give-back it owes in its own transaction
-- (giveback_pending = 1), and the give-back clears it once Redis has the units, so a
-- crash between the two is repaired by the reconciler; a rebuild of the Redis stock
-- leaves pending give-backs out (they are still to come). A journal the reconciler
-- could not apply keeps the reason (apply_error), reported by /metrics and the audit.
alter table trade_stock_log
    add column giveback_pending tinyint(1) not null default 0 comment '1: cancelled, its units not yet given back to Redis' after cancelled_at,
    add column apply_error varchar(255) null comment 'why the last attempt to apply this journal failed' after giveback_pending,
    add key idx_stock_log_giveback (giveback_pending, goods_id);
