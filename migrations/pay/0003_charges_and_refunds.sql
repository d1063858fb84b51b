-- pay-svc: every charge and every refund is a row, so that money taken and money
-- given back can be counted per payment (money charged = money kept + refunded).

-- The platform's transaction numbers are up to 128 characters (the callback's bound).
alter table trade_pay modify trade_no varchar(128) null comment 'the payment platform''s transaction number';
alter table trade_pay_log modify trade_no varchar(128) null;

-- Each charge the payment platform reported for a payment, one row per platform
-- transaction number ('' when the callback named none): the first `paid` callback
-- and any later one with another number (a duplicate charge, refunded at once).
create table trade_pay_charge (
    pay_id     bigint unsigned not null,
    trade_no   varchar(128)    not null,
    amount     decimal(12, 2)  not null,
    created_at datetime(3)     not null default current_timestamp(3),
    primary key (pay_id, trade_no)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Each refund, made through the payment-platform port: written `pending` in the
-- transaction that decides it, then asked of the platform and marked `succeeded`
-- with the platform's refund number; a relay asks again for refunds left pending.
-- One refund per charge (uk_refund_charge).
create table trade_pay_refund (
    refund_id          bigint unsigned not null auto_increment,
    pay_id             bigint unsigned not null,
    trade_no           varchar(128)    not null comment 'the charge refunded',
    amount             decimal(12, 2)  not null,
    reason             varchar(32)     not null comment 'order_cancelled | duplicate_charge',
    status             enum('pending', 'succeeded', 'failed') not null default 'pending',
    platform_refund_no varchar(128)    null,
    attempts           int unsigned    not null default 0,
    last_error         varchar(1024)   null,
    created_at         datetime(3)     not null default current_timestamp(3),
    updated_at         datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (refund_id),
    unique key uk_refund_charge (pay_id, trade_no),
    key idx_refund_status (status, updated_at)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- The development payment platform's own book of the refunds it was asked for, so
-- that it answers a repeated request with the same refund, as a platform does.
create table dev_platform_refund (
    out_refund_no      varchar(64)     not null comment 'our refund id',
    trade_no           varchar(128)    not null,
    amount             decimal(12, 2)  not null,
    platform_refund_no varchar(128)    not null,
    created_at         datetime(3)     not null default current_timestamp(3),
    primary key (out_refund_no)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Payments settled before these tables existed: their charge, and the refund of
-- those already refunded.
insert into trade_pay_charge (pay_id, trade_no, amount, created_at)
    select pay_id, coalesce(trade_no, ''), pay_amount, coalesce(paid_at, updated_at)
    from trade_pay where status in ('paid', 'refunded');
insert into trade_pay_refund (pay_id, trade_no, amount, reason, status, created_at)
    select pay_id, coalesce(trade_no, ''), pay_amount, 'order_cancelled', 'succeeded',
           coalesce(refunded_at, updated_at)
    from trade_pay where status = 'refunded';
