-- The Redis stock cache has a generation, renewed whenever it is rebuilt from MySQL
-- (Redis lost it). A reservation records the generation it decremented, so that
-- giving its stock back (rollback, cancel) touches only that generation: a rebuilt
-- cache already counts from MySQL whatever the old one held.
alter table trade_stock_log
    add column cache_gen varchar(64) null comment 'generation of the Redis stock the reservation decremented' after null_compensation;
