-- pay-svc: the payer, so that the `pay`/`paid` message can name the user whose points
-- it earns (user-svc) without another service reading order-svc's tables. Filled from
-- order-svc's answer when the payment is created.
alter table trade_pay
    add column user_id bigint unsigned null after order_id;
