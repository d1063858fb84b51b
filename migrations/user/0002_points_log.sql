-- user-svc: the points each payment earned (docs/architecture.md, "Payment"). One row
-- per payment: `earned` when its `pay`/`paid` message was applied, `revoked` once its
-- `pay`/`refund` message was (the order had been cancelled, the payment was given
-- back). Whichever message arrives first, the row ends `revoked` and the points balance
-- holds nothing for a refunded payment: a refund first inserts `revoked` with nothing
-- to take back, and the later `paid` then finds the row and adds nothing.
create table trade_user_points_log (
    pay_id     bigint unsigned not null,
    user_id    bigint unsigned not null,
    order_id   bigint unsigned not null,
    points     bigint unsigned not null,
    status     enum('earned', 'revoked') not null,
    created_at datetime(3)     not null default current_timestamp(3),
    updated_at datetime(3)     not null default current_timestamp(3) on update current_timestamp(3),
    primary key (pay_id),
    key idx_points_log_user (user_id)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;
