-- goods-svc: the stock each goods item was created with, for the consistency audit
-- (`shop audit`): initial_number = goods_number + quantity of journals applied and
-- not cancelled. Set by the create path; existing rows get their current stock plus
-- what applied journals took from it, so the equation holds for them too.
alter table trade_goods
    add column initial_number int unsigned null comment 'goods_number when the goods were created' after goods_number;

update trade_goods g
   set g.initial_number = g.goods_number + coalesce(
       (select sum(l.quantity) from trade_stock_log l
         where l.goods_id = g.goods_id and l.status = 'applied'), 0);

alter table trade_goods
    modify column initial_number int unsigned not null comment 'goods_number when the goods were created';
