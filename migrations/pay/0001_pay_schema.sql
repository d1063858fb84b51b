-- pay-svc, schema shop_pay: payments, the payment log, the local message table (the
-- `pay`/`paid` message) and the consumer log. See docs/architecture.md.

-- One payment per order (uk_pay_order): a second create returns the same row. The
-- callback marks it paid with `… where status = 'unpaid'`, in the same transaction
-- as the outbox row of the `paid` message.
create table trade_pay (
    pay_id     bigint unsigned not null auto_increment,
    order_id   bigint unsigned not null,
    pay_amount decimal(12, 2)  not null,
    status     enum('unpaid', 'paid', 'failed', 'refunded') not null default 'unpaid',
    trade_no   varchar(64)     null comment 'the payment platform''s transaction number',
    created_at datetime(3)     not null default current_timestamp(3),
    paid_at    datetime(3)     null,
    refunded_at datetime(3)    null,
    updated_at datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (pay_id),
    unique key uk_pay_order (order_id)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Payment log: what happened to each payment, written by pay-svc's own consumer of
-- `pay`/`paid` and by the refund path; one row per payment and event.
create table trade_pay_log (
    id         bigint unsigned not null auto_increment,
    pay_id     bigint unsigned not null,
    order_id   bigint unsigned not null,
    event      enum('paid', 'failed', 'refunded') not null,
    amount     decimal(12, 2)  not null,
    trade_no   varchar(64)     null,
    note       varchar(1024)   null,
    created_at datetime(3)     not null default current_timestamp(3),
    primary key (id),
    unique key uk_pay_log_event (pay_id, event),
    key idx_pay_log_order (order_id)
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
