-- goods-svc, schema shop_goods: goods and their MySQL stock, the stock journal of
-- Redis reservations, the stock change log, null-compensation records and the
-- consumer log. See docs/architecture.md.

-- Goods. goods_number is the MySQL stock: committed reservations are applied to it
-- asynchronously; what can still be reserved lives in Redis (rebuilt from this
-- figure minus journals not yet applied).
create table trade_goods (
    goods_id     bigint unsigned not null auto_increment,
    goods_name   varchar(255)    not null,
    goods_price  decimal(12, 2)  not null,
    goods_number int unsigned    not null,
    goods_desc   varchar(1024)   not null default '',
    created_at   datetime(3)     not null default current_timestamp(3),
    updated_at   datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (goods_id)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Stock journal: one row per (order, goods) reservation, written by the local
-- transaction of the `stock`/`deduct` half message; the broker's check-back reads it
-- by journal_id. `reserved` → `applied` (to trade_goods.goods_number) → possibly
-- `cancelled`; a cancel that finds no reservation inserts a `cancelled` row with
-- null_compensation = 1, so the late reservation hits uk_stock_log_order_goods and
-- is refused.
create table trade_stock_log (
    journal_id        char(36)        not null,
    order_id          bigint unsigned not null,
    goods_id          bigint unsigned not null,
    quantity          int unsigned    not null,
    status            enum('reserved', 'applied', 'cancelled') not null,
    applied           tinyint(1)      not null default 0 comment '1 once deducted from goods_number (stays 1 after cancel, which returns it)',
    null_compensation tinyint(1)      not null default 0,
    request_id        varchar(128)    null,
    created_at        datetime(3)     not null default current_timestamp(3),
    applied_at        datetime(3)     null,
    cancelled_at      datetime(3)     null,
    updated_at        datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (journal_id),
    unique key uk_stock_log_order_goods (order_id, goods_id),
    key idx_stock_log_goods_status (goods_id, status),
    key idx_stock_log_status_created (status, created_at)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Every change of trade_goods.goods_number: a deduction when a journal is applied, a
-- return when an applied journal is cancelled; one of each per order and goods.
create table trade_goods_number_log (
    goods_id     bigint unsigned not null,
    order_id     bigint unsigned not null,
    change_type  enum('deduct', 'return') not null,
    goods_number int             not null comment 'signed change: negative for deduct',
    log_time     datetime(3)     not null default current_timestamp(3),
    primary key (goods_id, order_id, change_type)
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
