-- coupon-svc, schema shop_coupon: coupons, null-compensation records and the
-- consumer log. See docs/architecture.md.

-- Coupons. Using one is the conditional update `… where is_used = 0`; the same order
-- using it again is a no-op; the order's cancel sets it unused again (and order_id
-- null) only when order_id is that order.
create table trade_coupon (
    coupon_id    bigint unsigned not null auto_increment,
    user_id      bigint unsigned not null,
    coupon_price decimal(12, 2)  not null,
    is_used      tinyint(1)      not null default 0,
    order_id     bigint unsigned null,
    used_at      datetime(3)     null,
    created_at   datetime(3)     not null default current_timestamp(3),
    updated_at   datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (coupon_id),
    key idx_coupon_user (user_id),
    unique key uk_coupon_order (order_id) comment 'an order uses one coupon at most'
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Null compensation (docs/architecture.md, "Compensation"): every order whose cancel
-- message this service consumed, whether or not its step here ever ran. A step (reserve
-- stock, use coupon, deduct balance) checks this table in its own transaction and is
-- refused for an order found here, so a step arriving after its compensation changes
-- nothing.
create table trade_cancelled_order (
    order_id     bigint unsigned not null,
    compensated  tinyint(1)    not null comment '1: the step had run and was undone; 0: null compensation',
    created_at   datetime(3)   not null default current_timestamp(3),
    primary key (order_id)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Idempotent consumers (docs/architecture.md): one row per message this service's
-- consumer group handled, keyed by (group, tag, key). The business effect and the row's
-- `success` commit in one local transaction, so a redelivered message, a crash between
-- effect and acknowledgement, or two instances racing apply it once.
create table trade_mq_consumer_log (
    group_name  varchar(64)   not null,
    msg_tag     varchar(64)   not null,
    msg_key     varchar(128)  not null,
    msg_topic   varchar(64)   not null,
    msg_id      varchar(64)   null comment 'broker-assigned id of the last delivery',
    msg_body    mediumblob    null,
    status      enum('processing', 'success', 'failed') not null default 'processing',
    attempts    int unsigned  not null default 1,
    last_error  varchar(1024) null,
    request_id  varchar(128)  null,
    created_at  datetime(3)   not null default current_timestamp(3),
    updated_at  datetime(3)   not null default current_timestamp(3) on update current_timestamp(3),
    primary key (group_name, msg_tag, msg_key),
    key idx_consumer_log_status (status, updated_at)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;
