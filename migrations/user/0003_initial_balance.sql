-- user-svc: the balance each user was created with, for the consistency audit
-- (`shop audit`): user_money = initial_balance − paid + refunded (money log). Set by
-- the create path; existing rows get the value that makes the equation hold today.
alter table trade_user
    add column initial_balance decimal(14, 2) null comment 'user_money when the user was created' after user_money;

update trade_user u
   set u.initial_balance = u.user_money
       + coalesce((select sum(l.use_money) from trade_user_money_log l
                    where l.user_id = u.user_id and l.money_log_type = 'paid'), 0)
       - coalesce((select sum(l.use_money) from trade_user_money_log l
                    where l.user_id = u.user_id and l.money_log_type = 'refund'), 0);

alter table trade_user
    modify column initial_balance decimal(14, 2) not null comment 'user_money when the user was created';
