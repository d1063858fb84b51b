-- order-svc: the downstream calls made while confirming an order (reserve stock, use
-- coupon, deduct balance), each with its duration and answer, for the order timeline.
create table trade_order_step (
    id          bigint unsigned not null auto_increment,
    order_id    bigint unsigned not null,
    step        varchar(32)     not null comment 'reserve_stock | use_coupon | deduct_balance',
    service     varchar(32)     not null comment 'the called service',
    outcome     enum('ok', 'refused', 'unavailable') not null,
    answer      varchar(1024)   not null comment 'the answer: ok, or the error code and message',
    duration_ms int unsigned    not null,
    request_id  varchar(128)    null,
    started_at  datetime(3)     not null,
    primary key (id),
    key idx_order_step_order (order_id, started_at)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;
