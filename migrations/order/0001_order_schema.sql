-- order-svc, schema shop_order: orders, the local message table (cancel and timeout
-- messages) and the consumer log. See docs/architecture.md.

-- One row per order. A pre-order is saved `unconfirmed` before any other service is
-- called (docs/architecture.md, "Abandoned orders"); an order left `unconfirmed` longer
-- than ORDER_ABANDON_AFTER is found through idx_order_status_created and cancelled.
create table trade_order (
    order_id      bigint unsigned not null auto_increment,
    user_id       bigint unsigned not null,
    goods_id      bigint unsigned not null,
    quantity      int unsigned    not null,
    goods_price   decimal(12, 2)  not null,
    order_amount  decimal(12, 2)  not null,
    shipping_fee  decimal(12, 2)  not null,
    coupon_id     bigint unsigned null,
    coupon_paid   decimal(12, 2)  not null default 0.00,
    money_paid    decimal(12, 2)  not null default 0.00,
    pay_amount    decimal(12, 2)  not null,
    address       varchar(255)    not null default '',
    status        enum('unconfirmed', 'confirmed', 'cancelled') not null default 'unconfirmed',
    pay_status    enum('unpaid', 'paid', 'refunded') not null default 'unpaid',
    cancel_reason enum('confirm_failed', 'pay_timeout', 'abandoned') null,
    request_id    varchar(128)    null comment 'x-request-id of the confirming request',
    created_at    datetime(3)     not null default current_timestamp(3),
    confirmed_at  datetime(3)     null,
    paid_at       datetime(3)     null,
    cancelled_at  datetime(3)     null,
    updated_at    datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (order_id),
    key idx_order_user (user_id, created_at),
    key idx_order_status_created (status, created_at),
    key idx_order_coupon (coupon_id)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Local message table (outbox): a message to publish is inserted here in the same
-- local transaction as the state change that causes it, sent to the broker after
-- commit, and marked sent on the broker's acknowledgement. A relay resends rows left
-- pending (crash, broker down) with backoff, so no message is ever lost.
create table trade_mq_producer_temp (
    id              bigint unsigned not null auto_increment,
    group_name      varchar(64)   not null comment 'producer group',
    msg_topic       varchar(64)   not null,
    msg_tag         varchar(64)   not null,
    msg_key         varchar(128)  not null,
    msg_body        mediumblob    not null,
    properties      text          null comment 'JSON object of message properties (request id, …)',
    delay_ms        bigint unsigned null comment 'delayed message: deliver this long after sending',
    status          enum('pending', 'sent') not null default 'pending',
    attempts        int unsigned  not null default 0,
    next_attempt_at datetime(3)   not null default current_timestamp(3),
    last_error      varchar(1024) null,
    broker_msg_id   varchar(64)   null,
    created_at      datetime(3)   not null default current_timestamp(3),
    sent_at         datetime(3)   null,
    primary key (id),
    unique key uk_producer_temp_message (msg_topic, msg_tag, msg_key),
    key idx_producer_temp_due (status, next_attempt_at)
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
