-- user-svc, schema shop_user: users with balance and points, the money log,
-- null-compensation records and the consumer log. See docs/architecture.md.

-- Users. Deducting is the conditional update `… where user_money >= ?`, so the
-- balance never goes negative under concurrency.
create table trade_user (
    user_id    bigint unsigned not null auto_increment,
    user_name  varchar(255)    not null,
    user_money decimal(14, 2)  not null default 0.00,
    user_score bigint unsigned not null default 0 comment 'points: 1 per whole currency unit paid',
    created_at datetime(3)     not null default current_timestamp(3),
    updated_at datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (user_id),
    constraint ck_user_money_not_negative check (user_money >= 0)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Every balance movement: the deduction for an order (`paid`) and its refund on
-- cancel (`refund`). The primary key allows one of each per user and order, which
-- makes deduct and refund idempotent by order id.
create table trade_user_money_log (
    user_id        bigint unsigned not null,
    order_id       bigint unsigned not null,
    money_log_type enum('paid', 'refund') not null,
    use_money      decimal(12, 2)  not null,
    request_id     varchar(128)    null,
    created_at     datetime(3)     not null default current_timestamp(3),
    primary key (user_id, order_id, money_log_type),
    key idx_money_log_order (order_id)
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
